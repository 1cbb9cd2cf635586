/** A mistake in how a command was called or configured: exit code 2. */
export class UsageError extends Error {
  override readonly name: string = 'UsageError';
}

/**
 * Input the command was pointed at cannot be used (a root of trust, a policy, a mirror file):
 * exit code 2 like a usage error, without sending the user to `--help` for a file's fault.
 */
export class ConfigError extends UsageError {
  override readonly name: string = 'ConfigError';
}

/** Exit codes shared by every command. */
export const ExitCode = { Verified: 0, NotVerified: 1, Usage: 2 } as const;

/**
 * What a command prints for a usage or configuration error: the message, and for a usage error
 * where its help is (a configuration error is the input's fault, not the call's).
 */
export function usageErrorText(err: UsageError, helpCommand: string): string {
  return err instanceof ConfigError
    ? `error: ${err.message}\n`
    : `error: ${err.message}\nRun '${helpCommand}' for usage.\n`;
}
