// tests/fuzz/fuzz_serial.cpp — serial numbers from URLs (GET /v1/certificates/{serial},
// POST .../{serial}/revoke) and from the command line (`edgeca revoke --serial`): from_hex
// refuses with a ca::Error whose response can be written, or gives a positive serial of 1 to 20
// octets that reads back unchanged from its own hex and from its integer value.
#include <cstdint>
#include <string>

#include "ca/serial_number.h"
#include "tests/fuzz/error_response.h"

using namespace edgeca;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text = fuzz::as_text(data, size);
    try {
        auto serial = ca::SerialNumber::from_hex(text);
        const auto& bytes = serial.bytes();
        if (bytes.empty() || bytes.size() > 20 || bytes.front() == 0) {
            fuzz::finding("from_hex gave a serial outside 1..20 octets or with a leading zero", serial.hex());
        }
        if (ca::SerialNumber::from_hex(serial.hex()) != serial) fuzz::finding("hex round trip", serial.hex());
        if (ca::SerialNumber::from_bigint(serial.to_bigint()) != serial) fuzz::finding("integer round trip", serial.hex());
    } catch (const ca::Error& e) {
        fuzz::render_error(e);
    }
    return 0;
}
