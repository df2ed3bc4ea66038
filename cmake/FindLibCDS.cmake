# FindLibCDS — finds libcds (https://github.com/khizmax/libcds) and defines the IMPORTED target
# LibCDS::cds: the shared library (it holds the HP/DHP reclamation) with its headers and
# Threads::Threads.
#
# Our own module on purpose: the LibCDSConfig.cmake shipped by Debian 12's libcds-dev points at
# /usr/lib64 (which does not exist there) and forces -std=c++11 on its users, so it must never be
# picked up. Call it as find_package(LibCDS MODULE ...).
#
# Result variables: LibCDS_FOUND, LibCDS_VERSION, LibCDS_INCLUDE_DIRS, LibCDS_LIBRARIES.
# Cache variables: LibCDS_INCLUDE_DIR, LibCDS_LIBRARY.

find_path(LibCDS_INCLUDE_DIR NAMES cds/version.h DOC "Directory holding cds/version.h")
find_library(LibCDS_LIBRARY NAMES cds DOC "The libcds shared library")
mark_as_advanced(LibCDS_INCLUDE_DIR LibCDS_LIBRARY)

# cds/version.h: #define CDS_VERSION_STRING "2.3.3"
if(LibCDS_INCLUDE_DIR AND EXISTS "${LibCDS_INCLUDE_DIR}/cds/version.h")
  file(STRINGS "${LibCDS_INCLUDE_DIR}/cds/version.h" _libcds_version_line
       REGEX "^#define[ \t]+CDS_VERSION_STRING[ \t]+\"[0-9.]+\"")
  if(_libcds_version_line MATCHES "\"([0-9.]+)\"")
    set(LibCDS_VERSION "${CMAKE_MATCH_1}")
  endif()
  unset(_libcds_version_line)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(LibCDS
  REQUIRED_VARS LibCDS_LIBRARY LibCDS_INCLUDE_DIR
  VERSION_VAR LibCDS_VERSION)

if(LibCDS_FOUND)
  set(LibCDS_INCLUDE_DIRS "${LibCDS_INCLUDE_DIR}")
  set(LibCDS_LIBRARIES "${LibCDS_LIBRARY}")
  if(NOT TARGET LibCDS::cds)
    set(THREADS_PREFER_PTHREAD_FLAG ON)
    find_package(Threads REQUIRED)
    add_library(LibCDS::cds UNKNOWN IMPORTED)
    # The headers are a SYSTEM include for every consumer, so that libcds's own warnings never
    # fail a -Werror build of ours.
    set_target_properties(LibCDS::cds PROPERTIES
      IMPORTED_LOCATION "${LibCDS_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${LibCDS_INCLUDE_DIR}"
      INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${LibCDS_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES Threads::Threads)
  endif()
endif()
