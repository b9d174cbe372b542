/**
 * What a command undoes when it is interrupted (SIGINT, SIGTERM, SIGHUP, SIGQUIT) or the process ends before
 * it is done (a bug: an uncaught exception): a render's staging folder, which holds every private
 * key of the render, the locks and new files it holds, and the terminal's echo the ceremony turns
 * off while it asks for a passphrase. Whatever makes such a thing registers its undoing here until
 * it is done with it (`untilDone`); a command that writes files installs `undoUnlessDone` for its run.
 *
 * Node handles a signal between two turns of its event loop, never inside synchronous code: while
 * the handler is installed, a run of synchronous writes (a render's files and their swap into
 * place, the ceremony's root folder) is never cut in half by these signals; the signal is handled
 * once it is over. Nothing runs on kill -9: the next run finds what was left (render: its output
 * lock, and the staging folders it then removes).
 */

/** The undoings of what is under way, oldest first. */
const pending = new Set<() => void>();

/**
 * Registers `undo`, to run if the process is interrupted, until the returned function is called
 * (when what it undoes is done or undone). `undo` must throw nothing.
 */
export function untilDone(undo: () => void): () => void {
    pending.add(undo);
    return () => {
        pending.delete(undo);
    };
}

/** Runs every registered undoing, newest first (a staging folder before the lock that guards it). */
function undoAll(): void {
    for (const undo of [...pending].reverse()) {
        pending.delete(undo);
        try {
            undo();
        } catch {
            // The process is ending: the other undoings still run.
        }
    }
}

/**
 * SIGQUIT (Ctrl-\ on a terminal) too: its default ending writes a core file, which would hold what
 * the process holds (a render's CA keys, the ceremony's passphrase and root key), and leaves behind
 * what it would undo.
 */
const SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"];

/**
 * Until the returned function is called, SIGINT, SIGTERM or SIGHUP undoes what is under way
 * (`untilDone`) and then ends the process by the same signal, as it would have ended without a
 * handler; SIGQUIT does the same but ends the process as SIGINT does, without a core file. A
 * signal that comes while synchronous code runs is handled after it; if the returned function is
 * called first (the command is done), the signal is not handled. The process ending meanwhile (an
 * uncaught exception, `process.exit`) undoes the same: otherwise a bug would leave a staging
 * folder full of keys and locks that refuse every later run.
 */
export function undoUnlessDone(): () => void {
    const stop = (): void => {
        for (const signal of SIGNALS) process.removeListener(signal, onSignal);
        process.removeListener("exit", undoAll);
    };
    function onSignal(signal: NodeJS.Signals): void {
        stop();
        undoAll();
        // SIGQUIT's own ending dumps core (SIGNALS).
        process.kill(process.pid, signal === "SIGQUIT" ? "SIGINT" : signal);
    }
    for (const signal of SIGNALS) process.on(signal, onSignal);
    // "exit" listeners run synchronously, which every undoing is.
    process.on("exit", undoAll);
    return stop;
}
