// ca/key_shares.h — an M-of-N backup of a CA key: threshold shares, each sealed for one custodian.
//
// The key (PKCS#8 DER) is split with RTSS (draft-mcgrew-tss-03, Botan's RTSS_Share, SHA-256
// checksum); each share is sealed with AES-256/GCM under a key that scrypt derives from that
// custodian's own passphrase. The share header (version, M, N, index, the SHA-256 of the key's
// SubjectPublicKeyInfo, the backup id, the scrypt cost, salt and nonce) is the GCM associated
// data: it is readable without the passphrase and cannot be changed without the tag failing.
// No I/O here: the caller hands in and takes back PEM texts.
#pragma once

#include <botan/pk_keys.h>
#include <botan/rng.h>
#include <botan/secmem.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace edgeca::ca {

inline constexpr std::string_view key_share_pem_label = "EDGECA ROOT KEY SHARE";
inline constexpr size_t min_share_threshold = 2;  // M = 1 would be N plain copies, not a split
inline constexpr size_t max_share_count = 254;    // Botan's RTSS splits into at most 254

// scrypt's cost, recorded in each share. The default (N = 2^17, r = 8, p = 1: 128 MiB) is
// OWASP's; tests pass a cheaper one. Opening accepts 2^10 to 2^20 only, so that a crafted
// file cannot make the tool allocate gigabytes.
struct ShareKdfCost {
    uint8_t log2_n = 17;
    uint8_t r = 8;
    uint8_t p = 1;
};

struct KeyShareHeader {
    uint8_t threshold = 0;  // M
    uint8_t count = 0;      // N
    uint8_t index = 0;      // 1..N, the custodian's number
    std::array<uint8_t, 32> key_id{};     // SHA-256 of the key's SubjectPublicKeyInfo (DER)
    std::array<uint8_t, 16> backup_id{};  // random; the same in all N shares of one backup
};

// A share as the caller read it: `name` (the file name) is what every refusal names.
struct ShareInput {
    std::string name;
    std::string pem;
    std::string passphrase;
};

// Refuses M and N unless 2 <= M <= N <= 254: Error(bad_input, "share_split_invalid").
void check_share_split(size_t threshold, size_t count);

// SHA-256 of a SubjectPublicKeyInfo: the key id every share carries.
std::array<uint8_t, 32> key_id_of(std::span<const uint8_t> subject_public_key_info);

// Splits `key` into one share per passphrase (share i+1 sealed under passphrases[i]), any
// `threshold` of which rebuild it. Returns the PEM texts in share order.
std::vector<std::string> split_key(const Botan::Private_Key& key, size_t threshold,
                                   const std::vector<std::string>& passphrases,
                                   Botan::RandomNumberGenerator& rng, ShareKdfCost cost = {});

// The header of a share, read without its passphrase (it is authenticated only when the share
// is opened). Throws Error(bad_input, "share_malformed") naming `name`.
KeyShareHeader read_share_header(std::string_view pem, std::string_view name);

// Checks a set of shares by their headers alone, before any passphrase is asked: all of the
// key `root_key_id` ("share_other_key") and of one backup ("share_other_backup"), no index twice
// ("share_duplicate"), at least M of them ("shares_too_few"). Each Error(bad_input) names the file.
void check_share_set(const std::vector<std::pair<std::string, KeyShareHeader>>& shares,
                     const std::array<uint8_t, 32>& root_key_id);

// Rebuilds the key: checks the set as above, opens each share with its passphrase
// (Error(unauthenticated, "share_wrong_passphrase") naming the file when the tag fails: a wrong
// passphrase or an altered file), joins them (Error(bad_input, "share_corrupted") when the RTSS
// checksum fails) and checks that the key is the one `root_spki` names ("key_mismatch").
std::unique_ptr<Botan::Private_Key> join_shares(const std::vector<ShareInput>& shares,
                                                std::span<const uint8_t> root_spki);

// One share sealed and opened; public so that tests can build a share whose RTSS body is
// damaged but whose seal is intact.
std::string seal_share(const KeyShareHeader& header, std::span<const uint8_t> rtss_share,
                       const std::string& passphrase, Botan::RandomNumberGenerator& rng,
                       ShareKdfCost cost = {});
Botan::secure_vector<uint8_t> open_share(std::string_view pem, const std::string& passphrase,
                                         std::string_view name);

}  // namespace edgeca::ca
