/**
 * The endpoints a domain makes under each hostname option (pure): one per domain, microservice or
 * group. Validation checks the endpoint names other keys give against them; the plan builds its
 * endpoints from them.
 */
import { DomainConfig, HostnameOption } from "../config/types";
import { endpointIdOf } from "../config/values";

export interface Grouping {
    readonly id: string;
    /** The domain (Option 1), service (2) or group (3) name the config gives at configKey. */
    readonly name: string;
    readonly hostLabel?: string;
    readonly services: readonly string[];
    /** The config key that named this endpoint, for error messages. */
    readonly configKey: string;
}

export function groupings(option: HostnameOption, domain: string, d: DomainConfig): Grouping[] {
    const key = `pki:domains.${domain}`;
    switch (option) {
        case 1:
            return [{ id: domain, name: domain, services: d.services, configKey: key }];
        case 2:
            return d.services.map((service, i) => ({
                id: endpointIdOf(domain, service.toLowerCase()),
                name: service,
                hostLabel: service.toLowerCase(),
                services: [service],
                configKey: `${key}.services[${i}]`,
            }));
        case 3:
            return Object.entries(d.groups).map(([group, services]) => ({
                id: endpointIdOf(domain, group),
                name: group,
                hostLabel: group,
                services,
                configKey: `${key}.groups.${group}`,
            }));
    }
}
