/*
 * Verifies peer certificate chains the way Envoy's DefaultCertValidator does
 * (envoyproxy/envoy source/common/tls/cert_validator/default_validator.cc), with Istio's
 * translation of a Gateway server's tls settings (subjectAltNames -> exact matchers of type DNS,
 * URI, email and IP; verifyCertificateSpki; verifyCertificateHash).
 *
 * Compiled by test/envoyVerifier.ts at test time, once against BoringSSL (Debian's
 * android-libboringssl-dev) and once against OpenSSL 3: the same rules through two libraries.
 *
 * Input on stdin, any number of requests (pins arrive already decoded to 64 hex digits):
 *   request
 *   ca <n>\n<n bytes>\n          every certificate (and CRL) of ca.crt
 *   crl <n>\n<n bytes>\n         optional: ca.crl
 *   chain <n>\n<n bytes>\n       the peer's chain as sent: leaf first
 *   purpose ssl_client|ssl_server
 *   partial 0|1
 *   time <unix seconds>          optional: verify at this instant
 *   san <n>\n<n bytes>\n         zero or more exact SAN matchers
 *   spki <64 hex>                zero or more SHA-256 pins of the leaf's SubjectPublicKeyInfo
 *   hash <64 hex>                zero or more SHA-256 pins of the leaf certificate
 *   end
 * Output, one line per request: ok(0|1) TAB error depth(-1 if none) TAB error TAB verified chain
 * (subject common names, leaf first, joined by '|'; empty when chain verification failed).
 * `--version` prints the library's version string and the file the X509 code was loaded from.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define MAX_PINS 64
#define MAX_SANS 64

typedef struct {
    const char *data;
    size_t len;
} slice;

typedef struct {
    slice ca, crl, chain;
    int has_crl;
    const char *purpose;
    int partial_chain;
    int has_time;
    time_t at;
    slice sans[MAX_SANS];
    int san_count;
    unsigned char spki[MAX_PINS][SHA256_DIGEST_LENGTH];
    int spki_count;
    unsigned char hash[MAX_PINS][SHA256_DIGEST_LENGTH];
    int hash_count;
} request;

static void die(const char *message) {
    fprintf(stderr, "envoyVerifier: %s\n", message);
    exit(2);
}

/* The whole of stdin. */
static char *read_all(size_t *length) {
    size_t capacity = 1 << 16, used = 0;
    char *buffer = malloc(capacity);
    if (!buffer) die("out of memory");
    for (;;) {
        if (used == capacity) {
            capacity *= 2;
            buffer = realloc(buffer, capacity);
            if (!buffer) die("out of memory");
        }
        size_t n = fread(buffer + used, 1, capacity - used, stdin);
        if (n == 0) break;
        used += n;
    }
    *length = used;
    return buffer;
}

typedef struct {
    const char *p, *end;
} cursor;

/* The next line without its newline, or NULL at the end of input. */
static int next_line(cursor *c, slice *line) {
    if (c->p >= c->end) return 0;
    const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
    if (!nl) die("input line without newline");
    line->data = c->p;
    line->len = (size_t)(nl - c->p);
    c->p = nl + 1;
    return 1;
}

static int starts_with(slice line, const char *word) {
    size_t n = strlen(word);
    return line.len > n && memcmp(line.data, word, n) == 0 && line.data[n] == ' ';
}

static int equals(slice line, const char *word) {
    return line.len == strlen(word) && memcmp(line.data, word, line.len) == 0;
}

/* The text after "<word> " as a C string (copied into a small buffer). */
static void argument(slice line, const char *word, char *out, size_t size) {
    size_t skip = strlen(word) + 1, n = line.len - skip;
    if (n >= size) die("argument too long");
    memcpy(out, line.data + skip, n);
    out[n] = 0;
}

/* "<word> <n>\n" followed by n bytes and a newline. */
static slice read_blob(cursor *c, slice line, const char *word) {
    char number[32];
    argument(line, word, number, sizeof number);
    size_t n = strtoul(number, NULL, 10);
    if ((size_t)(c->end - c->p) < n + 1 || c->p[n] != '\n') die("truncated blob");
    slice blob = {c->p, n};
    c->p += n + 1;
    return blob;
}

static void read_digest(slice line, const char *word, unsigned char out[SHA256_DIGEST_LENGTH]) {
    char hex[2 * SHA256_DIGEST_LENGTH + 1];
    argument(line, word, hex, sizeof hex);
    if (strlen(hex) != 2 * SHA256_DIGEST_LENGTH) die("pin is not 64 hex digits");
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        unsigned int byte;
        if (sscanf(hex + 2 * i, "%2x", &byte) != 1) die("pin is not hex");
        out[i] = (unsigned char)byte;
    }
}

/* Parses one request; returns 0 at the end of input. */
static int read_request(cursor *c, request *r) {
    slice line;
    if (!next_line(c, &line)) return 0;
    if (!equals(line, "request")) die("expected 'request'");
    memset(r, 0, sizeof *r);
    r->purpose = "ssl_client";
    r->partial_chain = 1;
    while (next_line(c, &line) && !equals(line, "end")) {
        char word[32];
        if (starts_with(line, "ca")) r->ca = read_blob(c, line, "ca");
        else if (starts_with(line, "crl")) r->crl = read_blob(c, line, "crl"), r->has_crl = 1;
        else if (starts_with(line, "chain")) r->chain = read_blob(c, line, "chain");
        else if (starts_with(line, "purpose")) {
            argument(line, "purpose", word, sizeof word);
            if (strcmp(word, "ssl_client") == 0) r->purpose = "ssl_client";
            else if (strcmp(word, "ssl_server") == 0) r->purpose = "ssl_server";
            else die("unknown purpose");
        } else if (starts_with(line, "partial")) {
            argument(line, "partial", word, sizeof word);
            r->partial_chain = strcmp(word, "1") == 0;
        } else if (starts_with(line, "time")) {
            argument(line, "time", word, sizeof word);
            r->has_time = 1;
            r->at = (time_t)strtoll(word, NULL, 10);
        } else if (starts_with(line, "san")) {
            if (r->san_count == MAX_SANS) die("too many SAN matchers");
            r->sans[r->san_count++] = read_blob(c, line, "san");
        } else if (starts_with(line, "spki")) {
            if (r->spki_count == MAX_PINS) die("too many SPKI pins");
            read_digest(line, "spki", r->spki[r->spki_count++]);
        } else if (starts_with(line, "hash")) {
            if (r->hash_count == MAX_PINS) die("too many hash pins");
            read_digest(line, "hash", r->hash[r->hash_count++]);
        } else die("unknown request line");
    }
    return 1;
}

static STACK_OF(X509_INFO) *pem_infos(slice pem) {
    BIO *bio = BIO_new_mem_buf(pem.data, (int)pem.len);
    STACK_OF(X509_INFO) *infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!infos) die("unreadable PEM");
    return infos;
}

/* Envoy's Utility::dnsNameMatch(dns_name = the configured value, pattern = the certificate's SAN). */
static int label_wildcard_match(const char *label, size_t label_len, const char *pattern, size_t pattern_len) {
    if (pattern_len == 1 && pattern[0] == '*') return 1;
    const char *star = memchr(pattern, '*', pattern_len);
    if (!star || memchr(star + 1, '*', pattern_len - (size_t)(star - pattern) - 1)) return 0;
    size_t prefix = (size_t)(star - pattern), suffix = pattern_len - prefix - 1;
    return pattern_len <= label_len + 1 && memcmp(label, pattern, prefix) == 0 &&
           memcmp(label + label_len - suffix, star + 1, suffix) == 0;
}

static int dns_name_match(slice name_in, slice pattern_in) {
    char name[512], pattern[512];
    if (name_in.len >= sizeof name || pattern_in.len >= sizeof pattern) return 0;
    for (size_t i = 0; i < name_in.len; i++) name[i] = (char)tolower((unsigned char)name_in.data[i]);
    for (size_t i = 0; i < pattern_in.len; i++) pattern[i] = (char)tolower((unsigned char)pattern_in.data[i]);
    if (name_in.len == pattern_in.len && memcmp(name, pattern, name_in.len) == 0) return 1;
    const char *name_dot = memchr(name, '.', name_in.len), *pattern_dot = memchr(pattern, '.', pattern_in.len);
    if (!name_dot || !pattern_dot) return 0;
    size_t name_first = (size_t)(name_dot - name), pattern_first = (size_t)(pattern_dot - pattern);
    size_t name_rest = name_in.len - name_first - 1, pattern_rest = pattern_in.len - pattern_first - 1;
    int first_has_star = memchr(pattern, '*', pattern_first) != NULL;
    int rest_has_star = memchr(pattern_dot + 1, '*', pattern_rest) != NULL;
    int a_label = pattern_first >= 4 && memcmp(pattern, "xn--", 4) == 0;
    if (!first_has_star || rest_has_star || a_label) return 0;
    return name_rest == pattern_rest && memcmp(name_dot + 1, pattern_dot + 1, name_rest) == 0 &&
           label_wildcard_match(name, name_first, pattern, pattern_first);
}

/* Istio's subjectAltNames: each value an exact matcher for DNS, URI, email and IP SANs (Envoy's
 * legacy match_subject_alt_names expansion); any matcher matching any SAN passes. */
static int san_matches(X509 *leaf, const request *r) {
    GENERAL_NAMES *names = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    if (!names) return 0;
    int matched = 0;
    for (int m = 0; m < r->san_count && !matched; m++) {
        for (size_t i = 0; i < (size_t)sk_GENERAL_NAME_num(names) && !matched; i++) {
            const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, i);
            slice value = {NULL, 0};
            char ip[INET6_ADDRSTRLEN];
            switch (name->type) {
            case GEN_DNS:
            case GEN_URI:
            case GEN_EMAIL:
                value.data = (const char *)ASN1_STRING_get0_data(name->d.ia5);
                value.len = (size_t)ASN1_STRING_length(name->d.ia5);
                break;
            case GEN_IPADD: {
                int length = ASN1_STRING_length(name->d.ip);
                int family = length == 4 ? AF_INET : length == 16 ? AF_INET6 : 0;
                if (family && inet_ntop(family, ASN1_STRING_get0_data(name->d.ip), ip, sizeof ip)) {
                    value.data = ip;
                    value.len = strlen(ip);
                }
                break;
            }
            default:
                continue;
            }
            if (!value.data) continue;
            matched = name->type == GEN_DNS ? dns_name_match(r->sans[m], value)
                                            : value.len == r->sans[m].len &&
                                                  memcmp(value.data, r->sans[m].data, value.len) == 0;
        }
    }
    GENERAL_NAMES_free(names);
    return matched;
}

static int digest_listed(const unsigned char digest[SHA256_DIGEST_LENGTH],
                         const unsigned char pins[][SHA256_DIGEST_LENGTH], int count) {
    for (int i = 0; i < count; i++)
        if (memcmp(digest, pins[i], SHA256_DIGEST_LENGTH) == 0) return 1;
    return 0;
}

/* verify_certificate_hash OR verify_certificate_spki (Envoy ORs the two lists). */
static int pins_match(X509 *leaf, const request *r) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    unsigned int digest_len = 0;
    if (r->hash_count > 0 && X509_digest(leaf, EVP_sha256(), digest, &digest_len) &&
        digest_listed(digest, r->hash, r->hash_count))
        return 1;
    if (r->spki_count > 0) {
        unsigned char *spki = NULL;
        int spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(leaf), &spki);
        if (spki_len > 0) {
            SHA256(spki, (size_t)spki_len, digest);
            OPENSSL_free(spki);
            if (digest_listed(digest, r->spki, r->spki_count)) return 1;
        }
    }
    return 0;
}

/* Subject common names of the verified chain, leaf first, '|'-separated, printable ASCII only. */
static void print_chain(STACK_OF(X509) *chain) {
    for (size_t i = 0; chain && i < (size_t)sk_X509_num(chain); i++) {
        char cn[256] = "";
        X509_NAME_get_text_by_NID(X509_get_subject_name(sk_X509_value(chain, i)), NID_commonName, cn, sizeof cn);
        for (char *p = cn; *p; p++)
            if (*p < 0x20 || *p > 0x7e || *p == '|') *p = '?';
        printf("%s%s", i ? "|" : "", cn);
    }
}

static void verify(const request *r) {
    X509_STORE *store = X509_STORE_new();
    /* initializeSslContexts: every certificate of trusted_ca is an anchor, PARTIAL_CHAIN always;
     * CRLs found in trusted_ca or in crl turn on CRL_CHECK | CRL_CHECK_ALL. */
    if (r->partial_chain) X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
    STACK_OF(X509_INFO) *ca = pem_infos(r->ca);
    int crl_count = 0;
    for (size_t i = 0; i < (size_t)sk_X509_INFO_num(ca); i++) {
        X509_INFO *info = sk_X509_INFO_value(ca, i);
        if (info->x509) X509_STORE_add_cert(store, info->x509);
        if (info->crl) X509_STORE_add_crl(store, info->crl), crl_count++;
    }
    STACK_OF(X509_INFO) *crls = r->has_crl ? pem_infos(r->crl) : NULL;
    for (size_t i = 0; crls && i < (size_t)sk_X509_INFO_num(crls); i++) {
        X509_INFO *info = sk_X509_INFO_value(crls, i);
        if (info->crl) X509_STORE_add_crl(store, info->crl);
    }
    if (crl_count > 0 || r->has_crl) X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);

    /* The peer's chain exactly as sent; Envoy passes all of it (leaf included) as untrusted. */
    STACK_OF(X509_INFO) *sent = pem_infos(r->chain);
    STACK_OF(X509) *chain = sk_X509_new_null();
    for (size_t i = 0; i < (size_t)sk_X509_INFO_num(sent); i++) {
        X509_INFO *info = sk_X509_INFO_value(sent, i);
        if (info->x509) sk_X509_push(chain, info->x509);
    }
    if (sk_X509_num(chain) == 0) die("the chain has no certificate");
    X509 *leaf = sk_X509_value(chain, 0);

    /* doVerifyCertChain: the context inherits the store, then the ssl_client (a server verifying a
     * client) or ssl_server defaults: purpose and trust. */
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (!X509_STORE_CTX_init(ctx, store, leaf, chain) || !X509_STORE_CTX_set_default(ctx, r->purpose))
        die("X509_STORE_CTX setup failed");
    if (r->has_time) X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), r->at);

    if (X509_verify_cert(ctx) != 1) {
        int error = X509_STORE_CTX_get_error(ctx);
        printf("0\t%d\t%s\t\n", X509_STORE_CTX_get_error_depth(ctx), X509_verify_cert_error_string(error));
    } else {
        /* verifyCertificate: SAN matchers first, then hash OR SPKI; each only when configured. */
        const char *error = "";
        if (r->san_count > 0 && !san_matches(leaf, r)) error = "SAN mismatch";
        else if ((r->hash_count > 0 || r->spki_count > 0) && !pins_match(leaf, r))
            error = "cert hash and SPKI mismatch";
        printf("%d\t-1\t%s\t", error[0] == 0, error);
        print_chain(X509_STORE_CTX_get0_chain(ctx));
        printf("\n");
    }
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    sk_X509_free(chain);
    sk_X509_INFO_pop_free(sent, X509_INFO_free);
    if (crls) sk_X509_INFO_pop_free(crls, X509_INFO_free);
    sk_X509_INFO_pop_free(ca, X509_INFO_free);
    X509_STORE_free(store);
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        Dl_info where;
        const char *library = dladdr((void *)X509_verify_cert, &where) && where.dli_fname ? where.dli_fname : "?";
#ifdef OPENSSL_IS_BORINGSSL
        const char *flavour = "BoringSSL";
#else
        const char *flavour = "OpenSSL";
#endif
        printf("%s\t%s\t%s\n", flavour, OpenSSL_version(OPENSSL_VERSION), library);
        return 0;
    }
    size_t length;
    char *input = read_all(&length);
    cursor c = {input, input + length};
    request *r = malloc(sizeof *r);
    if (!r) die("out of memory");
    while (read_request(&c, r)) verify(r);
    free(r);
    free(input);
    return 0;
}
