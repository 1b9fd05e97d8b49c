/**
 * A llama-server task with `"loadReport": true` is started at the verbosity that prints llama.cpp's
 * load report (the buffer sizes and the memory breakdown table): in current builds llama.cpp's own
 * info lines reach the log at level 4 (`-lv 4`, "trace"), one above llama-server's default of 3.
 * Arguments or a `LLAMA_ARG_LOG_VERBOSITY` that already ask for that much (or for `-v`) are left as
 * they are; a lower level the user chose is raised, the last `-lv` on a command line winning.
 */

/** The level at which llama.cpp's info lines print (common/log.cpp maps GGML's INFO to LOG_LEVEL_TRACE). */
export const LOAD_REPORT_VERBOSITY = 4;

const VERBOSE = ['-v', '--verbose', '--log-verbose'];
const LEVEL = ['-lv', '--verbosity', '--log-verbosity'];

/** The verbosity the arguments and environment set; null when they set none. */
function verbosityOf(args: readonly string[], env: Readonly<Record<string, string | undefined>>): number | null {
  let level: number | null = null;
  const fromEnv = env.LLAMA_ARG_LOG_VERBOSITY;
  if (fromEnv !== undefined && /^\d+$/.test(fromEnv.trim())) level = Number(fromEnv.trim());
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (VERBOSE.includes(a)) level = Number.MAX_SAFE_INTEGER;
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (!LEVEL.includes(name)) continue;
    const value = eq > 0 ? a.slice(eq + 1) : args[i + 1];
    if (value !== undefined && /^\d+$/.test(value)) level = Number(value);
  }
  return level;
}

/** The arguments with the load report's verbosity added when they do not already print it. */
export function withLoadReportVerbosity(args: readonly string[], env: Readonly<Record<string, string | undefined>>): string[] {
  const level = verbosityOf(args, env);
  if (level !== null && level >= LOAD_REPORT_VERBOSITY) return [...args];
  return [...args, '-lv', String(LOAD_REPORT_VERBOSITY)];
}
