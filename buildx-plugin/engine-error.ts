/**
 * A diagnostic the engine sent (its ID and next step ride in the Connect error's metadata). Kept apart
 * from client.ts so the error printer does not load the RPC stack.
 */
export class EngineError extends Error {
  override readonly name = "EngineError";
  constructor(
    message: string,
    readonly id: string | undefined,
    readonly next: string | undefined,
    readonly canceled = false,
  ) {
    super(message);
  }
}
