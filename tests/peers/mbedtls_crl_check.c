/* mbedtls_crl_check: Mbed TLS (the TLS stack of the EnOS C device SDK) reads the CRLs edgeca
 * serves, as a device would. Built by tests/integration/test_crl_peers.py against libmbedtls.
 *   mbedtls_crl_check list CRL...                 prints "serial HEX" for each revoked entry
 *   mbedtls_crl_check verify ROOT CHAIN CRL...    verifies CHAIN (leaf first) under ROOT with
 *                                                 the CRLs; prints "verified" or "flags 0x..."
 * A CRL Mbed TLS cannot parse prints "parse error -0x...." and exits 2. */
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *read_all(const char *path, size_t *length) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *buffer = NULL;
    size_t size = 0, capacity = 0;
    for (;;) {
        if (size + 4096 + 1 > capacity) {
            capacity = 2 * capacity + 4096 + 1;
            unsigned char *grown = realloc(buffer, capacity);
            if (!grown) { free(buffer); fclose(f); return NULL; }
            buffer = grown;
        }
        size_t n = fread(buffer + size, 1, 4096, f);
        size += n;
        if (n < 4096) break;
    }
    fclose(f);
    buffer[size] = 0; /* PEM input is parsed with its terminating NUL */
    *length = size;
    return buffer;
}

static int parse_crl(mbedtls_x509_crl *crl, const char *path) {
    size_t length = 0;
    unsigned char *data = read_all(path, &length);
    if (!data) { printf("cannot read %s\n", path); return 2; }
    int pem = strstr((const char *)data, "-----BEGIN") != NULL;
    int rc = mbedtls_x509_crl_parse(crl, data, pem ? length + 1 : length);
    free(data);
    if (rc != 0) { printf("parse error -0x%04x %s\n", (unsigned)-rc, path); return 2; }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: list CRL... | verify ROOT CHAIN CRL...\n"); return 64; }
    mbedtls_x509_crl crls;
    mbedtls_x509_crl_init(&crls);
    int first_crl = strcmp(argv[1], "verify") == 0 ? 4 : 2;
    for (int i = first_crl; i < argc; i++) {
        int rc = parse_crl(&crls, argv[i]);
        if (rc) return rc;
    }
    if (strcmp(argv[1], "list") == 0) {
        for (const mbedtls_x509_crl *crl = &crls; crl; crl = crl->next) {
            char issuer[512];
            mbedtls_x509_dn_gets(issuer, sizeof issuer, &crl->issuer);
            printf("crl issuer=%s\n", issuer);
            for (const mbedtls_x509_crl_entry *e = &crl->entry; e; e = e->next) {
                if (e->serial.len == 0) continue; /* an empty list has one empty entry */
                printf("serial ");
                size_t start = 0;
                while (start + 1 < e->serial.len && e->serial.p[start] == 0) start++;
                for (size_t k = start; k < e->serial.len; k++) printf("%02X", e->serial.p[k]);
                printf("\n");
            }
        }
        mbedtls_x509_crl_free(&crls);
        return 0;
    }
    if (strcmp(argv[1], "verify") != 0 || argc < 4) { fprintf(stderr, "unknown mode\n"); return 64; }
    mbedtls_x509_crt root, chain;
    mbedtls_x509_crt_init(&root);
    mbedtls_x509_crt_init(&chain);
    int rc = mbedtls_x509_crt_parse_file(&root, argv[2]);
    if (rc == 0) rc = mbedtls_x509_crt_parse_file(&chain, argv[3]);
    if (rc != 0) { printf("certificate parse error -0x%04x\n", (unsigned)-rc); return 2; }
    uint32_t flags = 0;
    rc = mbedtls_x509_crt_verify(&chain, &root, &crls, NULL, &flags, NULL, NULL);
    if (rc == 0) {
        printf("verified\n");
    } else {
        char reasons[1024];
        mbedtls_x509_crt_verify_info(reasons, sizeof reasons, "", flags);
        printf("flags 0x%08x\n%s", (unsigned)flags, reasons);
    }
    mbedtls_x509_crt_free(&root);
    mbedtls_x509_crt_free(&chain);
    mbedtls_x509_crl_free(&crls);
    return rc == 0 ? 0 : 1;
}
