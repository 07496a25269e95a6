// SIGINT/SIGTERM/SIGHUP handling for training: the first signal asks the loop to finish its step,
// save and exit; a second one exits at once, removing the temporary file being written (every file
// is written atomically, so nothing is corrupted). SIGHUP (a closed terminal or ssh session) is
// treated like SIGTERM. A one-shot command (bpe apply -o, quantize, average-checkpoints…) gets
// `installRemovingTemporaries` the first time it writes a file: a signal removes the temporary
// file being written, then ends the process as the signal would have.

import Foundation

nonisolated(unsafe) private var signalsReceived: sig_atomic_t = 0
/// Only one rank of a data-parallel run says it is stopping.
nonisolated(unsafe) private var signalsQuiet: sig_atomic_t = 0
/// Whether a handler is installed (training's, or a one-shot command's).
nonisolated(unsafe) private var handlerInstalled = false

public enum StopSignal {
    /// `quiet`: stop the same way without a word (the ranks of a data-parallel run other than the leader).
    public static func install(quiet: Bool = false) {
        handlerInstalled = true
        signalsQuiet = quiet ? 1 : 0
        let handler: @convention(c) (Int32) -> Void = { _ in
            signalsReceived += 1
            if signalsReceived >= 2 {
                if signalsQuiet != 0 { TemporaryFiles.removeInFlight(); _exit(130) }
                let message = "\nnmt: second signal, exiting now\n"
                _ = message.withCString { write(2, $0, strlen($0)) }
                TemporaryFiles.removeInFlight()
                _exit(130)
            }
            if signalsQuiet != 0 { return }
            let message = "\nnmt: stopping after this step (saving a checkpoint); signal again to exit at once\n"
            _ = message.withCString { write(2, $0, strlen($0)) }
        }
        installHandler(handler)
    }

    /// For commands without training's handler: a signal removes the temporary file being written
    /// and then takes its default action (the exit status says which signal). Idempotent.
    public static func installRemovingTemporaries() {
        guard !handlerInstalled else { return }
        handlerInstalled = true
        installHandler { signalNumber in
            TemporaryFiles.removeInFlight()
            signal(signalNumber, SIG_DFL)
            raise(signalNumber)
        }
    }

    private static func installHandler(_ handler: @convention(c) (Int32) -> Void) {
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
        signal(SIGHUP, handler)
        // A parent may have started us with these signals blocked (the mask is inherited); unblock them.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGHUP)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    public static var requested: Bool { signalsReceived > 0 }
}
