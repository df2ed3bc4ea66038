// singleflight over libcds — flight tables built on libcds's lock-free MichaelHashSet
// (https://github.com/khizmax/libcds), for comparison with the default table:
//
//   singleflight::group<Key, Value, Hash, KeyEqual, singleflight::tables::michael_dhp> g;
//
// Needs libcds's headers and library: link libcds and -pthread (CMake: singleflight::libcds).
// libcds's process-wide setup and each thread's attachment are done for the user, lazily
// (detail/libcds_runtime.hpp). KeyEqual must be a stateless function object.
#pragma once

#include "singleflight.hpp"  // first: it refuses a compiler not in C++20 mode, in one line
#if __cplusplus >= 202002L

#include <cds/gc/dhp.h>
#include <cds/gc/hp.h>

#include "detail/libcds_table.hpp"

namespace singleflight::tables {

// libcds MichaelHashSet with dynamic hazard pointers: no limit on the number of threads.
template <class Key, class Value, class Hash, class KeyEqual>
using michael_dhp =
    detail::libcds_table<detail::michael_buckets<cds::gc::DHP>, Key, Value, Hash, KeyEqual>;

// libcds MichaelHashSet with classic hazard pointers, sized for 1024 threads.
template <class Key, class Value, class Hash, class KeyEqual>
using michael_hp =
    detail::libcds_table<detail::michael_buckets<cds::gc::HP>, Key, Value, Hash, KeyEqual>;

}  // namespace singleflight::tables

#endif  // C++20
