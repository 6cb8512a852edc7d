// fusebox/admin: the admin endpoint over the process-wide registry.

import type { registry } from './index'

/** Where and how `serve` listens. */
export interface AdminOptions {
  /** `'IP:PORT'`; default `'127.0.0.1:0'` (a free port on loopback). */
  address?: string
  /** The bearer token the controls need; without one they are refused (403). */
  token?: string | null
}

/** A running admin endpoint: `/metrics`, `/breakers`, `/events` and the dashboard page. */
export declare class AdminServer {
  private constructor ()
  /** `127.0.0.1:40123`: where it listens. */
  get address (): string
  /** `http://127.0.0.1:40123/`: the dashboard page. */
  get url (): string
  /** Whether it still serves. */
  get running (): boolean
  /** Stop serving and free the port; again is a no-op. */
  close (): void
}

/**
 * Serve fusebox's process-wide `registry`. Throws a TypeError
 * (`ERR_INVALID_ARG_VALUE`) for an address that is not IP:PORT, a
 * FuseboxError (`EFUSEBOXLISTEN`) when it cannot listen there.
 */
export declare function serve (reg: typeof registry, options?: AdminOptions): AdminServer
