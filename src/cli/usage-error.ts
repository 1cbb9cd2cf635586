/** A mistake in how a command was called or configured: exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Exit codes shared by every command. */
export const ExitCode = { Verified: 0, NotVerified: 1, Usage: 2 } as const;
