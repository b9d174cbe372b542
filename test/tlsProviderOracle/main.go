// Command tlsProviderOracle builds keys, certificates and certificate requests the way
// terraform-provider-tls (the Go provider behind @pulumi/tls) builds them, so that
// test/tlsProviderParity.test.ts can check lib/engine, our offline stand-in for that provider,
// byte for byte against Go's crypto/x509 itself rather than against hex written by hand.
//
// It uses the standard library only (no module download, no network) and mirrors, at
// github.com/hashicorp/terraform-provider-tls:
//   - internal/provider/resource_private_key.go: private_key_pem (PKCS#1 for RSA, SEC 1 for ECDSA,
//     PKCS#8 for Ed25519), private_key_pem_pkcs8 and, via common_key.go, public_key_pem (PKIX);
//   - internal/provider/common_cert.go: createSubjectDistinguishedNames (the subject block, with
//     emailAddress as an IA5String extra name), createCertificate (validity, allowed_uses, the CA
//     check that the subject is not an empty pkix.Name, SKI, max_path_length, AKI) and
//     generateSubjectKeyID;
//   - internal/provider/resource_self_signed_cert.go, resource_cert_request.go and
//     resource_locally_signed_cert.go: the templates they fill (net.ParseIP for ip_addresses,
//     url.Parse for uris, the CSR's parsed subject and SANs copied into the certificate).
//
// The provider is built with a newer Go (1.25) than the one the tests may have (Debian's 1.19),
// and some of what this does changed in between. Known differences:
//   - the SubjectKeyId CreateCertificate derives itself for a CA: not relied on, the provider sets
//     the SKI itself, with generateSubjectKeyID, as this does;
//   - net.ParseIP parses with net/netip in newer Go: Go 1.19 takes an IPv6 group of more than four
//     hex digits ("00001::1"), newer Go and the stand-in refuse it;
//   - url.Parse's checks of a URI's host have changed between versions;
//   - x509.ParseCertificate refuses a negative serial number since Go 1.23 (the stand-in refuses
//     such a ca_cert_pem too), Go 1.19 takes it.
//
// So test/tlsProviderParity.test.ts gives this only inputs these versions agree on: plain IPv4 and
// IPv6 addresses, a spiffe:// URI, positive serial numbers; the cases above stay out of it.
// The random serial number and clock are the stand-in's (given in), so that the bytes can match;
// the test judges the serial itself (positive, below 2^128, the id in decimal).
//
// Where the stand-in refuses what the provider takes, on purpose (so the test does not compare
// them): an allowed_uses value the provider does not know (it ignores it), a negative
// validity_period_hours (a certificate that expired before it began), and, unverified against
// the provider, an explicitly empty street_addresses list as a CA's only subject field (Go's
// cmp.Equal tells an empty list from none, so the provider would take that subject as non-empty;
// the stand-in refuses it as empty).
//
// Input: a JSON array of requests on stdin. Output: a JSON array of results, one per request,
// each either the DER/PEM Go wrote or the provider's error ("summary: detail").
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"reflect"
	"time"
)

// subject is the provider's subject block (certificateSubjectModel), absent fields as nil.
type subject struct {
	CommonName         *string  `json:"commonName"`
	Organization       *string  `json:"organization"`
	OrganizationalUnit *string  `json:"organizationalUnit"`
	StreetAddresses    []string `json:"streetAddresses"`
	Locality           *string  `json:"locality"`
	Province           *string  `json:"province"`
	Country            *string  `json:"country"`
	PostalCode         *string  `json:"postalCode"`
	SerialNumber       *string  `json:"serialNumber"`
	EmailAddress       *string  `json:"emailAddress"`
}

// request is one resource to build: kind "key", "self" (SelfSignedCert), "csr" (CertRequest)
// or "local" (LocallySignedCert), with the stand-in's inputs under their @pulumi/tls names.
type request struct {
	Kind                string   `json:"kind"`
	PrivateKeyPem       string   `json:"privateKeyPem"`
	CaPrivateKeyPem     string   `json:"caPrivateKeyPem"`
	CaCertPem           string   `json:"caCertPem"`
	CertRequestPem      string   `json:"certRequestPem"`
	SerialHex           string   `json:"serialHex"`
	NotBeforeMs         int64    `json:"notBeforeMs"`
	ValidityPeriodHours int64    `json:"validityPeriodHours"`
	Subject             *subject `json:"subject"`
	DNSNames            []string `json:"dnsNames"`
	IPAddresses         []string `json:"ipAddresses"`
	URIs                []string `json:"uris"`
	AllowedUses         []string `json:"allowedUses"`
	IsCaCertificate     bool     `json:"isCaCertificate"`
	MaxPathLength       *int64   `json:"maxPathLength"`
	SetSubjectKeyID     bool     `json:"setSubjectKeyId"`
	SetAuthorityKeyID   bool     `json:"setAuthorityKeyId"`
}

type result struct {
	Error string `json:"error,omitempty"`
	// Der is the certificate or request, hex.
	Der string `json:"der,omitempty"`
	// ValidityStartTime and ValidityEndTime are the state's RFC 3339 times (time.MarshalText).
	ValidityStartTime  string `json:"validityStartTime,omitempty"`
	ValidityEndTime    string `json:"validityEndTime,omitempty"`
	PrivateKeyPem      string `json:"privateKeyPem,omitempty"`
	PrivateKeyPemPkcs8 string `json:"privateKeyPemPkcs8,omitempty"`
	PublicKeyPem       string `json:"publicKeyPem,omitempty"`
}

// providerError is a diagnostic the provider adds (summary and detail).
type providerError struct{ summary, detail string }

func (e providerError) Error() string { return e.summary + ": " + e.detail }

// common_cert.go keyUsages and extendedKeyUsages.
var keyUsages = map[string]x509.KeyUsage{
	"digital_signature":  x509.KeyUsageDigitalSignature,
	"content_commitment": x509.KeyUsageContentCommitment,
	"key_encipherment":   x509.KeyUsageKeyEncipherment,
	"data_encipherment":  x509.KeyUsageDataEncipherment,
	"key_agreement":      x509.KeyUsageKeyAgreement,
	"cert_signing":       x509.KeyUsageCertSign,
	"crl_signing":        x509.KeyUsageCRLSign,
	"encipher_only":      x509.KeyUsageEncipherOnly,
	"decipher_only":      x509.KeyUsageDecipherOnly,
}

var extendedKeyUsages = map[string]x509.ExtKeyUsage{
	"any_extended":                      x509.ExtKeyUsageAny,
	"server_auth":                       x509.ExtKeyUsageServerAuth,
	"client_auth":                       x509.ExtKeyUsageClientAuth,
	"code_signing":                      x509.ExtKeyUsageCodeSigning,
	"email_protection":                  x509.ExtKeyUsageEmailProtection,
	"ipsec_end_system":                  x509.ExtKeyUsageIPSECEndSystem,
	"ipsec_tunnel":                      x509.ExtKeyUsageIPSECTunnel,
	"ipsec_user":                        x509.ExtKeyUsageIPSECUser,
	"timestamping":                      x509.ExtKeyUsageTimeStamping,
	"ocsp_signing":                      x509.ExtKeyUsageOCSPSigning,
	"microsoft_server_gated_crypto":     x509.ExtKeyUsageMicrosoftServerGatedCrypto,
	"netscape_server_gated_crypto":      x509.ExtKeyUsageNetscapeServerGatedCrypto,
	"microsoft_commercial_code_signing": x509.ExtKeyUsageMicrosoftCommercialCodeSigning,
	"microsoft_kernel_code_signing":     x509.ExtKeyUsageMicrosoftKernelCodeSigning,
}

// generateSubjectKeyID is common_cert.go's: SHA-1 of the key as the provider marshals it.
func generateSubjectKeyID(pubKey crypto.PublicKey) ([]byte, error) {
	var pubKeyBytes []byte
	var err error
	switch pub := pubKey.(type) {
	case *rsa.PublicKey:
		pubKeyBytes, err = asn1.Marshal(*pub)
	case *ecdsa.PublicKey:
		pubKeyBytes = elliptic.Marshal(pub.Curve, pub.X, pub.Y)
	case ed25519.PublicKey:
		pubKeyBytes, err = asn1.Marshal(pub)
	default:
		err = fmt.Errorf("unsupported public key type %T", pub)
	}
	if err != nil {
		return nil, err
	}
	hash := sha1.Sum(pubKeyBytes)
	return hash[:], nil
}

// parsePrivateKey reads a key by its PEM label, as common_key.go's parsePrivateKeyPEM does.
func parsePrivateKey(keyPem string) (crypto.Signer, error) {
	block, _ := pem.Decode([]byte(keyPem))
	if block == nil {
		return nil, fmt.Errorf("no PEM block")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(block.Bytes)
	default:
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		return key.(crypto.Signer), nil
	}
}

// createSubjectDistinguishedNames is common_cert.go's.
func createSubjectDistinguishedNames(s *subject) pkix.Name {
	result := pkix.Name{}
	if s == nil {
		return result
	}
	one := func(v *string) []string {
		if v == nil {
			return nil
		}
		return []string{*v}
	}
	if s.CommonName != nil {
		result.CommonName = *s.CommonName
	}
	result.Organization = one(s.Organization)
	result.OrganizationalUnit = one(s.OrganizationalUnit)
	result.StreetAddress = s.StreetAddresses
	result.Locality = one(s.Locality)
	result.Province = one(s.Province)
	result.Country = one(s.Country)
	result.PostalCode = one(s.PostalCode)
	if s.SerialNumber != nil {
		result.SerialNumber = *s.SerialNumber
	}
	if s.EmailAddress != nil {
		result.ExtraNames = append(result.ExtraNames, pkix.AttributeTypeAndValue{
			Type:  asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1},
			Value: asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte(*s.EmailAddress)},
		})
	}
	return result
}

// altNames parses ip_addresses and uris as resource_self_signed_cert.go and
// resource_cert_request.go do.
func altNames(r request) ([]net.IP, []*url.URL, error) {
	var ips []net.IP
	for _, ipStr := range r.IPAddresses {
		ip := net.ParseIP(ipStr)
		if ip == nil {
			return nil, nil, providerError{"Invalid IP address", fmt.Sprintf("Failed to parse %#v", ipStr)}
		}
		ips = append(ips, ip)
	}
	var uris []*url.URL
	for _, uriStr := range r.URIs {
		uri, err := url.Parse(uriStr)
		if err != nil {
			return nil, nil, providerError{"Invalid URI", fmt.Sprintf("Failed to parse %#v: %v", uriStr, err)}
		}
		uris = append(uris, uri)
	}
	return ips, uris, nil
}

// createCertificate is common_cert.go's, with the stand-in's clock and serial number.
func createCertificate(r request, template, parent *x509.Certificate, pubKey crypto.PublicKey, prvKey crypto.Signer) (result, error) {
	var err error
	template.NotBefore = time.UnixMilli(r.NotBeforeMs).UTC()
	template.NotAfter = template.NotBefore.Add(time.Duration(r.ValidityPeriodHours) * time.Hour)
	serial, ok := new(big.Int).SetString(r.SerialHex, 16)
	if !ok {
		return result{}, fmt.Errorf("bad serialHex %q", r.SerialHex)
	}
	template.SerialNumber = serial
	for _, use := range r.AllowedUses {
		if usage, ok := keyUsages[use]; ok {
			template.KeyUsage |= usage
		}
		if usage, ok := extendedKeyUsages[use]; ok {
			template.ExtKeyUsage = append(template.ExtKeyUsage, usage)
		}
	}
	if r.IsCaCertificate {
		// The provider uses cmp.Equal; for pkix.Name (exported fields only) it agrees with DeepEqual.
		if reflect.DeepEqual(template.Subject, pkix.Name{}) {
			return result{}, providerError{"Invalid Certificate Subject", "Must contain at least one Distinguished Name when creating Certificate Authority (CA)"}
		}
		template.IsCA = true
		if template.SubjectKeyId, err = generateSubjectKeyID(pubKey); err != nil {
			return result{}, err
		}
	}
	if r.MaxPathLength != nil && *r.MaxPathLength >= 0 {
		template.MaxPathLen = int(*r.MaxPathLength)
	}
	if r.SetSubjectKeyID {
		if template.SubjectKeyId, err = generateSubjectKeyID(pubKey); err != nil {
			return result{}, err
		}
	}
	if r.SetAuthorityKeyID {
		if len(parent.SubjectKeyId) == 0 {
			return result{}, providerError{"Invalid Certificate Authority", "Could not determine Authority Key Identifier"}
		}
		template.AuthorityKeyId = parent.SubjectKeyId
	}
	certBytes, err := x509.CreateCertificate(rand.Reader, template, parent, pubKey, prvKey)
	if err != nil {
		return result{}, providerError{"Failed to create certificate", err.Error()}
	}
	start, _ := template.NotBefore.MarshalText()
	end, _ := template.NotAfter.MarshalText()
	return result{Der: hex.EncodeToString(certBytes), ValidityStartTime: string(start), ValidityEndTime: string(end)}, nil
}

// privateKey re-encodes a key as resource_private_key.go writes a new one.
func privateKey(r request) (result, error) {
	key, err := parsePrivateKey(r.PrivateKeyPem)
	if err != nil {
		return result{}, err
	}
	var block *pem.Block
	switch k := key.(type) {
	case *rsa.PrivateKey:
		block = &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return result{}, err
		}
		block = &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
	default:
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return result{}, err
		}
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return result{}, err
	}
	spki, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return result{}, err
	}
	return result{
		PrivateKeyPem:      string(pem.EncodeToMemory(block)),
		PrivateKeyPemPkcs8: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})),
		PublicKeyPem:       string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})),
	}, nil
}

// selfSignedCert is resource_self_signed_cert.go's Create.
func selfSignedCert(r request) (result, error) {
	key, err := parsePrivateKey(r.PrivateKeyPem)
	if err != nil {
		return result{}, err
	}
	ips, uris, err := altNames(r)
	if err != nil {
		return result{}, err
	}
	template := &x509.Certificate{BasicConstraintsValid: true, DNSNames: r.DNSNames, IPAddresses: ips, URIs: uris}
	if r.Subject != nil {
		template.Subject = createSubjectDistinguishedNames(r.Subject)
	}
	return createCertificate(r, template, template, key.Public(), key)
}

// certRequest is resource_cert_request.go's Create.
func certRequest(r request) (result, error) {
	key, err := parsePrivateKey(r.PrivateKeyPem)
	if err != nil {
		return result{}, err
	}
	ips, uris, err := altNames(r)
	if err != nil {
		return result{}, err
	}
	template := &x509.CertificateRequest{DNSNames: r.DNSNames, IPAddresses: ips, URIs: uris}
	if r.Subject != nil {
		template.Subject = createSubjectDistinguishedNames(r.Subject)
	}
	csrBytes, err := x509.CreateCertificateRequest(rand.Reader, template, key)
	if err != nil {
		return result{}, providerError{"Error creating certificate request", err.Error()}
	}
	return result{Der: hex.EncodeToString(csrBytes)}, nil
}

// locallySignedCert is resource_locally_signed_cert.go's Create.
func locallySignedCert(r request) (result, error) {
	caKey, err := parsePrivateKey(r.CaPrivateKeyPem)
	if err != nil {
		return result{}, err
	}
	caBlock, _ := pem.Decode([]byte(r.CaCertPem))
	if caBlock == nil {
		return result{}, fmt.Errorf("ca_cert_pem: no PEM block")
	}
	caCert, err := x509.ParseCertificate(caBlock.Bytes)
	if err != nil {
		return result{}, err
	}
	csrBlock, _ := pem.Decode([]byte(r.CertRequestPem))
	if csrBlock == nil {
		return result{}, fmt.Errorf("cert_request_pem: no PEM block")
	}
	certReq, err := x509.ParseCertificateRequest(csrBlock.Bytes)
	if err != nil {
		return result{}, err
	}
	template := &x509.Certificate{
		Subject:               certReq.Subject,
		DNSNames:              certReq.DNSNames,
		IPAddresses:           certReq.IPAddresses,
		URIs:                  certReq.URIs,
		BasicConstraintsValid: true,
	}
	return createCertificate(r, template, caCert, certReq.PublicKey, caKey)
}

func build(r request) result {
	var res result
	var err error
	switch r.Kind {
	case "key":
		res, err = privateKey(r)
	case "self":
		res, err = selfSignedCert(r)
	case "csr":
		res, err = certRequest(r)
	case "local":
		res, err = locallySignedCert(r)
	default:
		err = fmt.Errorf("unknown kind %q", r.Kind)
	}
	if err != nil {
		return result{Error: err.Error()}
	}
	return res
}

func main() {
	var requests []request
	if err := json.NewDecoder(os.Stdin).Decode(&requests); err != nil {
		fmt.Fprintln(os.Stderr, "tlsProviderOracle: reading requests:", err)
		os.Exit(2)
	}
	results := make([]result, len(requests))
	for i, r := range requests {
		results[i] = build(r)
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, "tlsProviderOracle: writing results:", err)
		os.Exit(2)
	}
}
