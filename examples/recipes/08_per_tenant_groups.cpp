// Recipe 8 — per-tenant groups.
//
// Pattern: the same key means different things to different tenants, so their loads must never
// coalesce. Two ways to get that, both here:
//   - tenant_loaders: a group per tenant, created on first use. A group can be neither copied
//     nor moved, so the map holds it by unique_ptr; groups are never removed while the loader
//     lives, so a reference handed out under the lock stays valid after it. Separate groups
//     also keep one tenant's stampede out of another's table.
//   - composite_loader: one group keyed by (tenant, key). The typed key makes this as simple as
//     the map; Go's version builds a "tenant:key" string instead.
// Everything here works unchanged with mutex_group or sharded_group in place of group.
//
// Acceptance, for each: 50 concurrent loads of (A, "x") and 50 of (B, "x") run the loader
// exactly twice, once per tenant, and every caller gets its own tenant's resource.
#include <singleflight/singleflight.hpp>

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "recipe.hpp"

namespace {

struct resource {
  std::string tenant, key;
};

// The loader both designs call: counts its runs.
struct backend {
  std::function<void()> latency = [] {};
  std::atomic<int> loads{0};

  resource load(const std::string& tenant, const std::string& key) {
    loads.fetch_add(1, std::memory_order_relaxed);  // relaxed: read after the threads join
    latency();
    return {tenant, key};
  }
};

class tenant_loaders {
 public:
  explicit tenant_loaders(backend& b) : backend_(b) {}

  singleflight::result<resource> get(const std::string& tenant, const std::string& key) {
    return group_for(tenant).call(key, [&] { return backend_.load(tenant, key); });
  }

 private:
  using group_type = singleflight::group<std::string, resource>;

  group_type& group_for(const std::string& tenant) {
    std::lock_guard lock(mu_);
    std::unique_ptr<group_type>& g = groups_[tenant];
    if (!g) g = std::make_unique<group_type>();
    return *g;
  }

  backend& backend_;
  std::mutex mu_;  // guards groups_, not the groups
  std::unordered_map<std::string, std::unique_ptr<group_type>> groups_;
};

struct tenant_key {
  std::string tenant, key;
  bool operator==(const tenant_key&) const = default;
};
struct tenant_key_hash {
  std::size_t operator()(const tenant_key& k) const noexcept {
    const std::hash<std::string> h;
    return h(k.tenant) * 31 + h(k.key);
  }
};

class composite_loader {
 public:
  explicit composite_loader(backend& b) : backend_(b) {}

  singleflight::result<resource> get(const std::string& tenant, const std::string& key) {
    return group_.call({tenant, key}, [&] { return backend_.load(tenant, key); });
  }

 private:
  backend& backend_;
  singleflight::group<tenant_key, resource, tenant_key_hash> group_;
};

template <class Loader>
void two_tenants_one_key(const char* name) {
  std::printf("%s:\n", name);
  constexpr int per_tenant = 50;
  backend b;
  Loader loader(b);
  recipe::crowd crowd(2 * per_tenant);
  // Both tenants' loaders wait for all 100 callers, so the two flights overlap in time.
  b.latency = [&] { crowd.wait_for_everyone(); };
  std::vector<int> own_tenant(2 * per_tenant, 0);
  recipe::in_parallel(2 * per_tenant, [&](int i) {
    const std::string tenant = i < per_tenant ? "A" : "B";
    crowd.arrive();
    const auto r = loader.get(tenant, "x");
    own_tenant[i] = r->tenant == tenant && r->key == "x";
  });
  int right = 0;
  for (int ok : own_tenant) right += ok;
  recipe::check_eq(b.loads.load(std::memory_order_relaxed), 2,  // relaxed: the threads joined
                   "loads for 50 callers of (A, x) and 50 of (B, x)");
  recipe::check_eq(right, 2 * per_tenant, "callers that got their own tenant's resource");
}

}  // namespace

int main() {
  two_tenants_one_key<tenant_loaders>("a group per tenant");
  two_tenants_one_key<composite_loader>("one group keyed by (tenant, key)");
  return recipe::verdict();
}
