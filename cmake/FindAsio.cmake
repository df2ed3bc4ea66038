# FindAsio — finds standalone Asio (https://think-async.com; Debian: libasio-dev), which is
# header-only, and defines the IMPORTED target Asio::asio: its headers and Threads::Threads.
#
# Debian's libasio-dev ships neither a CMake package nor a pkg-config file, hence this module.
# Standalone Asio only (<asio.hpp>, namespace asio), not Boost.Asio. Call it as
# find_package(Asio MODULE ...).
#
# Result variables: Asio_FOUND, Asio_VERSION, Asio_INCLUDE_DIRS.
# Cache variable: Asio_INCLUDE_DIR.

find_path(Asio_INCLUDE_DIR NAMES asio/version.hpp DOC "Directory holding asio.hpp and asio/")
mark_as_advanced(Asio_INCLUDE_DIR)

# asio/version.hpp: #define ASIO_VERSION 102201 // 1.22.1  (major * 100000 + minor * 100 + patch)
if(Asio_INCLUDE_DIR AND EXISTS "${Asio_INCLUDE_DIR}/asio/version.hpp")
  file(STRINGS "${Asio_INCLUDE_DIR}/asio/version.hpp" _asio_version_line
       REGEX "^#define[ \t]+ASIO_VERSION[ \t]+[0-9]+")
  if(_asio_version_line MATCHES "ASIO_VERSION[ \t]+([0-9]+)")
    math(EXPR _asio_major "${CMAKE_MATCH_1} / 100000")
    math(EXPR _asio_minor "${CMAKE_MATCH_1} / 100 % 1000")
    math(EXPR _asio_patch "${CMAKE_MATCH_1} % 100")
    set(Asio_VERSION "${_asio_major}.${_asio_minor}.${_asio_patch}")
    unset(_asio_major)
    unset(_asio_minor)
    unset(_asio_patch)
  endif()
  unset(_asio_version_line)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Asio
  REQUIRED_VARS Asio_INCLUDE_DIR
  VERSION_VAR Asio_VERSION)

if(Asio_FOUND)
  set(Asio_INCLUDE_DIRS "${Asio_INCLUDE_DIR}")
  if(NOT TARGET Asio::asio)
    set(THREADS_PREFER_PTHREAD_FLAG ON)
    find_package(Threads REQUIRED)
    add_library(Asio::asio INTERFACE IMPORTED)
    # A SYSTEM include, so that Asio's own warnings never fail a -Werror build of ours.
    set_target_properties(Asio::asio PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${Asio_INCLUDE_DIR}"
      INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${Asio_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES Threads::Threads)
  endif()
endif()
