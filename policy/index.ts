/** The policy pack: `npm run build && pulumi preview --policy-pack policy`. */
import { PolicyPack } from "@pulumi/policy";
import { POLICIES } from "./policies";

new PolicyPack("apic-istio-pki", { policies: POLICIES });
