// cli/records_output.cpp — text output of records, stable enough for scripts to read.
#include "cli/records_output.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <iostream>

#include "ca/audit_verification.h"
#include "ca/certificate_facts.h"
#include "ca/distinguished_name.h"
#include "ca/encoding.h"
#include "ca/revocation_reason.h"
#include "cli/exit_codes.h"

namespace edgeca::cli {
namespace {

store::Time now() {
    return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

}  // namespace

void print_certificate_table(const store::Store& store, std::ostream& out,
                             const store::CertificateFilter& base) {
    out << fmt::format("{:<40} {:<13} {:<8} {:<20} {}\n", "SERIAL", "PROFILE", "STATUS",
                       "NOT AFTER", "SUBJECT");
    store::CertificateFilter filter = base;
    filter.now = now();
    filter.limit = 1000;
    for (;;) {
        auto page = store.read([&](const store::Reader& r) { return r.certificates(filter); });
        for (const auto& record : page) {
            out << fmt::format("{:<40} {:<13} {:<8} {:<20} {}\n", ca::to_hex(record.serial),
                               record.profile, store::to_string(record.status_at(filter.now)),
                               ca::to_rfc3339(record.not_after), record.subject);
        }
        if (page.size() < static_cast<size_t>(filter.limit)) break;
        filter.after_id = page.back().id;
    }
}

void print_certificate_details(const store::CertificateRecord& r, std::ostream& out) {
    out << fmt::format("serial:       {}\n", ca::to_hex(r.serial));
    out << fmt::format("id:           {}\n", r.id);
    out << fmt::format("profile:      {}\n", r.profile);
    out << fmt::format("status:       {}\n", store::to_string(r.status_at(now())));
    out << fmt::format("subject:      {}\n", r.subject);
    out << fmt::format("not before:   {}\n", ca::to_rfc3339(r.not_before));
    out << fmt::format("not after:    {}\n", ca::to_rfc3339(r.not_after));
    out << fmt::format("issued at:    {}\n", ca::to_rfc3339(r.issued_at));
    out << fmt::format("requester:    {}\n", r.requester);
    if (r.product_key) out << fmt::format("product key:  {}\n", *r.product_key);
    if (r.device_key) out << fmt::format("device key:   {}\n", *r.device_key);
    if (r.asset_id) out << fmt::format("asset id:     {}\n", *r.asset_id);
    out << fmt::format("SPKI SHA-256: {}\n", r.spki_sha256);
    out << fmt::format("SHA-256:      {}\n", r.fingerprint_sha256);
    if (r.revoked_at) {
        out << fmt::format("revoked at:   {}\n", ca::to_rfc3339(*r.revoked_at));
        out << fmt::format("reason:       {}\n", ca::reason_name(r.revocation_reason.value_or(0)));
        if (r.revoked_by) out << fmt::format("revoked by:   {}\n", *r.revoked_by);
    }
    out << ca::encode_pem(r.der, "CERTIFICATE");
}

namespace {

int print_chain_only(const store::Store& store, std::ostream& out) {
    auto result = store.read([](const store::Reader& r) { return r.verify_audit_chain(); });
    if (!result.intact) {
        out << fmt::format("audit chain BROKEN after {} intact entries: {}\n", result.entries, result.problem);
        return exit_integrity;
    }
    out << fmt::format("audit chain intact: {} entries, head {}\n", result.entries, result.head_hash);
    out << "checkpoints not checked: no CA certificate yet\n";
    return exit_ok;
}

}  // namespace

int print_audit(const store::Store& store, const std::optional<Botan::X509_Certificate>& signer, bool verify,
                std::ostream& out) {
    store.read([&](const store::Reader& reader) {
        reader.each_audit_entry([&](const store::AuditEntry& e) {
            out << fmt::format("{:>6} {:%Y-%m-%dT%H:%M:%S}Z {:<18} {:<18} {:<8} serial={} "
                               "sha256={} {}\n",
                               e.seq, e.at, e.event.actor, e.event.action, e.event.outcome,
                               e.event.serial.empty() ? "-" : e.event.serial,
                               e.event.fingerprint.empty() ? "-" : e.event.fingerprint,
                               e.event.detail);
            return true;
        });
    });
    if (!verify) return exit_ok;
    if (!signer) return print_chain_only(store, out);
    auto key = signer->load_subject_public_key();  // owned: subject_public_key() hands out a raw pointer
    auto report = store.read([&](const store::Reader& r) { return ca::verify_audit_log(r, *key); });
    const std::string signed_by = fmt::format("{} (SHA-256 {})", ca::to_rfc4514(signer->subject_dn()),
                                              ca::sha256_hex(signer->BER_encode()));
    if (!report.intact()) {
        const auto& first = report.problems.front();
        if (report.first_bad_seq() == 0) {
            out << "audit log TAMPERED: no single entry is to blame\n";
        } else if (first.first_bad_seq == first.last_bad_seq) {
            out << fmt::format("audit log TAMPERED: first bad entry {}\n", first.first_bad_seq);
        } else {
            out << fmt::format("audit log TAMPERED: first bad entry {} or a later one up to {} ({}; which of "
                               "{}..{} changed is not known)\n",
                               first.first_bad_seq, first.last_bad_seq,
                               first.first_bad_seq == 1 ? std::string("no entry is proven")
                                                        : fmt::format("entries 1..{} are proven", first.first_bad_seq - 1),
                               first.first_bad_seq, first.last_bad_seq);
        }
        for (const auto& p : report.problems) out << fmt::format("  {}\n", p.text);
        out << fmt::format("checkpoints checked with {}\n", signed_by);
        return exit_integrity;
    }
    out << fmt::format("audit chain intact: {} entries, head {}\n", report.entries, report.head_hash);
    if (!report.anchor) {
        out << fmt::format("no signed checkpoint yet: {} entries are covered by no signature, so nothing "
                           "proves them against a writer of the database\n",
                           report.uncovered());
    } else {
        const auto& a = *report.anchor;
        out << fmt::format("checkpoints: {} signed by {}; the newest, #{} at {}, covers entries 1..{} (head {}) "
                           "and the {} revoked certificate(s) of then\n",
                           report.checkpoints, signed_by, a.number, ca::to_rfc3339(a.at), a.seq, a.head_hash,
                           a.revocations);
        out << fmt::format("not yet covered by a checkpoint: {} entr{}\n", report.uncovered(),
                           report.uncovered() == 1 ? "y" : "ies");
    }
    out << fmt::format("revocations: {} in the store, each matching its audit entry\n", report.revocations);
    return exit_ok;
}

}  // namespace edgeca::cli
