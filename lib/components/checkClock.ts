/**
 * The time the components check their inputs against: a CA past its end, a CRL past its next
 * update or not valid yet, a public certificate that expired. It is the machine's clock when the
 * check runs (once an output resolves, after what it depends on was made: a root @pulumi/tls
 * creates during the update is dated after the program ran, and so is the CRL it signs), except
 * while the stack builds a plan made for a given time (`render --now`, a rehearsal): the stack's
 * own CRLs and truststores are made for that time, and the checks must ask what a gateway whose
 * clock reads it would do, not what one would do today.
 */
let planClock: Date | undefined;

/** Where a component's checks read the time; a component takes it as it is constructed. */
export type CheckClock = () => Date;

/** The clock of a component constructed now: the plan's while atPlanClock runs, else the machine's. */
export function checkClock(): CheckClock {
    const pinned = planClock;
    return pinned !== undefined ? () => pinned : () => new Date();
}

/**
 * Runs `build` with `now` as the components' check time. `build` must construct its components
 * synchronously (Pulumi programs do): each takes the clock in its constructor and checks outputs
 * against `now` when they resolve.
 */
export function atPlanClock<T>(now: Date, build: () => T): T {
    const outer = planClock;
    planClock = now;
    try {
        return build();
    } finally {
        planClock = outer;
    }
}
