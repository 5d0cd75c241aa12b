// ca/device_registry.h — products and devices: an edge certificate is issued only for a device
// registered under a product (EnOS pre-registers the device's serial number as its deviceKey).
#pragma once

#include <botan/rng.h>

#include <optional>
#include <string>
#include <vector>

#include "ca/caller.h"
#include "ca/clock.h"
#include "store/store.h"

namespace edgeca::ca {

struct NewProduct {
    std::string product_key;
    std::string name;
    int max_validity_days = 730;
    bool certificate_auth = true;
};

class DeviceRegistry {
public:
    DeviceRegistry(store::Store& store, const Clock& clock, Botan::RandomNumberGenerator& rng)
        : store_(store), clock_(clock), rng_(rng) {}

    // Admins only. Error(conflict, "product_exists") for a second product with the same key.
    store::ProductRecord add_product(const Caller& caller, const NewProduct& product);
    // Admins and hubs. The product must exist; without an asset id, one is generated.
    // Error(conflict, "device_exists") when the device key or asset id is taken. A device a hub
    // registers is owned by its principal; one an admin registers is owned by nobody until a
    // hub gets its first certificate.
    store::DeviceRecord add_device(const Caller& caller, const std::string& product_key,
                                   const std::string& device_key,
                                   const std::optional<std::string>& asset_id);

    std::optional<store::ProductRecord> product(const std::string& product_key) const;
    std::optional<store::DeviceRecord> device(const std::string& device_key) const;
    // What a caller may see: an admin every device, a hub its own and the unowned ones. Another
    // owner's device is reported as not found.
    std::optional<store::DeviceRecord> device(const Caller& caller, const std::string& device_key) const;
    std::vector<store::DeviceRecord> devices(const Caller& caller,
                                             const std::optional<std::string>& product_key,
                                             const std::string& after_device_key, int limit) const;

private:
    store::Store& store_;
    const Clock& clock_;
    Botan::RandomNumberGenerator& rng_;
};

// Keys that travel in URLs and JSON: 1 to 64 of A-Z a-z 0-9 . _ : @ -. Throws Error(bad_input,
// "<field>_invalid").
void check_identifier(const std::string& value, std::string_view field);

}  // namespace edgeca::ca
