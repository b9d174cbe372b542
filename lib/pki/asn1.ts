/**
 * The @peculiar/asn1-x509 structures our own signers (CRLs, the ceremony, the intermediate's
 * subject) build and read, and the name constraints read through them. Kept apart from ./x509 so
 * that no declaration the package publishes names a @peculiar type: those reach @peculiar/utils, an
 * ES module, which a consumer type-checking with module node16 and without skipLibCheck cannot
 * load from our CommonJS declarations (TS1479). Nothing exported from lib/index.ts or
 * lib/testing.ts may take or return these types; test/package.test.ts checks it.
 */
import * as crypto from "crypto";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import {
    AlgorithmIdentifier,
    AttributeTypeAndValue,
    AttributeValue,
    AuthorityKeyIdentifier,
    Certificate,
    Extension,
    GeneralName,
    id_ce_authorityKeyIdentifier,
    id_ce_nameConstraints,
    id_ce_subjectKeyIdentifier,
    KeyIdentifier,
    Name,
    NameConstraints,
    RelativeDistinguishedName,
    SubjectKeyIdentifier,
} from "@peculiar/asn1-x509";
import { id_sha256WithRSAEncryption } from "@peculiar/asn1-rsa";
import { Name as DistinguishedName } from "@peculiar/x509";
import { pemDecode } from "./pem";
import { PRINTABLE_STRING, SIGNATURE_HASHES, signatureOid, toDer, TypedName } from "./x509";

/** The AlgorithmIdentifier and hash of a signature by this key. */
export function signatureAlgorithm(key: crypto.KeyObject): { algorithm: AlgorithmIdentifier; hash: string | null } {
    const oid = signatureOid(key);
    // sha256WithRSAEncryption carries NULL parameters (RFC 4055); ECDSA and Ed25519 none (RFC 5758, RFC 8410).
    const parameters = oid === id_sha256WithRSAEncryption ? null : undefined;
    return { algorithm: new AlgorithmIdentifier({ algorithm: oid, parameters }), hash: SIGNATURE_HASHES[oid] };
}

/** An extension holding the DER of `value`; non-critical ones omit the flag, as DER requires. */
export function extension(extnID: string, critical: boolean, value: object): Extension {
    return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

/** The AKI extension naming the issuer's key by its SKI (keyIdentifier only, as Go writes it); none without one. */
export function authorityKeyIdExtensions(issuerKeyId: ArrayBuffer | undefined): Extension[] {
    if (issuerKeyId === undefined) return [];
    const value = new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(issuerKeyId) });
    return [extension(id_ce_authorityKeyIdentifier, false, value)];
}

/**
 * A CA's subject with these attributes, in Go's order (O, OU, CN), one RDN each, each value
 * exactly the text given, typed as Go types it (PRINTABLE_STRING). Built from the values, never
 * parsed from RFC 4514 text, where quotes, backslashes and a leading "#" would change the name.
 */
export function caSubject(fields: { organization?: string; organizationalUnit?: string; commonName: string }): Name {
    const attributes: [type: string, value: string | undefined][] = [
        ["2.5.4.10", fields.organization],
        ["2.5.4.11", fields.organizationalUnit],
        ["2.5.4.3", fields.commonName],
    ];
    return new Name(
        attributes.flatMap(([type, text]) => {
            if (text === undefined || text === "") return []; // left out: a DirectoryString is never empty
            const value = new AttributeValue(
                PRINTABLE_STRING.test(text) ? { printableString: text } : { utf8String: text },
            );
            return [new RelativeDistinguishedName([new AttributeTypeAndValue({ type, value })])];
        }),
    );
}

/**
 * A CA certificate parsed for signing under it. Refused unless it re-encodes to its own bytes, so
 * that the issuer name we copy from it is byte for byte its subject (chain building compares them).
 */
export function parseCaCertificate(pem: string): Certificate {
    const der = pemDecode(pem, "CERTIFICATE");
    const cert = AsnConvert.parse(der, Certificate);
    if (!toDer(cert).equals(der))
        throw new Error("the CA certificate is not in DER: its subject cannot be copied exactly");
    return cert;
}

/** The certificate's Subject Key Identifier, if it has one. */
export function subjectKeyIdOf(cert: Certificate): ArrayBuffer | undefined {
    const ext = cert.tbsCertificate.extensions?.find((e) => e.extnID === id_ce_subjectKeyIdentifier);
    return ext && AsnConvert.parse(ext.extnValue, SubjectKeyIdentifier).buffer;
}

/** A distinguished name (a directoryName, a subject) as name constraints compare it. */
export const dirName = (name: Name): TypedName => ({
    type: "DirName",
    value: new DistinguishedName(toDer(name)).toString(),
    rdns: name.map((rdn) => rdn.map((attribute) => [attribute.type, attribute.value.toString()] as const)),
});

function typedName(name: GeneralName): TypedName {
    if (name.dNSName !== undefined) return { type: "DNS", value: name.dNSName };
    if (name.uniformResourceIdentifier !== undefined) return { type: "URI", value: name.uniformResourceIdentifier };
    if (name.rfc822Name !== undefined) return { type: "email", value: name.rfc822Name };
    if (name.iPAddress !== undefined) return { type: "IP", value: name.iPAddress };
    if (name.directoryName !== undefined) return dirName(name.directoryName);
    return { type: "other", value: "" };
}

/** A CA's nameConstraints (RFC 5280 section 4.2.1.10), or undefined when it has none. */
export function nameConstraintsOf(
    cert: crypto.X509Certificate,
): { permitted: TypedName[]; excluded: TypedName[] } | undefined {
    const ext = AsnConvert.parse(cert.raw, Certificate).tbsCertificate.extensions?.find(
        (e) => e.extnID === id_ce_nameConstraints,
    );
    if (ext === undefined) return undefined;
    const constraints = AsnConvert.parse(ext.extnValue, NameConstraints);
    return {
        permitted: (constraints.permittedSubtrees ?? []).map((subtree) => typedName(subtree.base)),
        excluded: (constraints.excludedSubtrees ?? []).map((subtree) => typedName(subtree.base)),
    };
}
