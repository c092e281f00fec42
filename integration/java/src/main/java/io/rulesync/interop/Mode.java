package io.rulesync.interop;

/**
 * One way of running the program. A mode reads its flags in its constructor,
 * so that {@link Flags#rejectUnused()} can refuse unknown ones before
 * anything starts.
 */
interface Mode {
    /** Starts the mode and prints READY once it is usable. */
    void start() throws Exception;

    /** Handles one stdin line (already trimmed, never empty). */
    void command(String line) throws Exception;

    /** Stops what the mode started. Called once, from stdin EOF or a signal. */
    void close();
}
