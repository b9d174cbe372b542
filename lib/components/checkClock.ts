/**
 * The time the components check their inputs against: a CA past its end, a CRL past its next
 * update or not valid yet, a public certificate that expired. It is the machine's clock, except
 * while the stack builds a plan made for another time (`render --now`, a rehearsal): the stack's
 * own CRLs and truststores are made for that time, and the checks must ask what a gateway whose
 * clock reads it would do, not what one would do today.
 */
let planClock: Date | undefined;

/** The time to check against; a component reads it once, as it is constructed. */
export function checkTime(): Date {
    return planClock ?? new Date();
}

/**
 * Runs `build` with `now` as the components' check time. `build` must construct its components
 * synchronously (Pulumi programs do): each reads the time in its constructor and checks outputs
 * against that value when they resolve.
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
