import type { ServerResponse } from "node:http";
import type { HtkError } from "../../base/errors/index.ts";

/** Writes a JSON body as Docker does: its content type, and a newline after the value (Go's json.Encoder). */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Docker's error shape is `{"message": "..."}`; clients print it as "Error response from daemon: …".
 * The message starts with the cause (Docker's own text where one exists, so scripts that match on it
 * keep working), then the diagnostic ID and the next step. The structured form rides along in an extra
 * field that Docker clients ignore. `status` overrides the catalogue's when an endpoint reports an
 * error with the status Docker gives it there (an unreachable registry is a 500 on pull and login).
 */
export function sendError(res: ServerResponse, err: HtkError, status: number = err.http): void {
  if (res.headersSent) {
    res.destroy(err);
    return;
  }
  sendJson(res, status, {
    message: dockerMessage(err),
    diagnostic: { id: err.id, cause: err.plainCause, next: err.nextStep },
  });
}

/** The `message` of Docker's error shape (and of a progress stream's `errorDetail`) for an HtkError. */
export function dockerMessage(err: HtkError): string {
  return `${err.plainCause} [${err.id}] ${err.nextStep}`;
}
