// fusebox/prom: fusebox's metrics in a prom-client registry (see prom.js).

/** What `register` needs of a prom-client `Registry`. */
export interface PromRegistryLike {
  registerMetric (metric: unknown): void
}

/** Anything that writes fusebox's Prometheus text: `registry`, a `KeyedBreakers`, a `SharedRegistry`. */
export interface PrometheusSource {
  prometheus (): string
}

/** One metric family read back from the text format. */
export interface Family {
  help: string
  type: string
  values: Array<{ metricName: string, labels: Record<string, string>, value: number }>
}

/**
 * Register `source`'s metric families with a prom-client registry, one
 * collector per family, read from the core's text at each scrape. Returns
 * the families' names. Throws a `TypeError` for arguments of the wrong kind,
 * and prom-client's error for a family registered twice.
 */
export declare function register (promRegistry: PromRegistryLike, source: PrometheusSource): string[]

/** The text format read back into families, in the text's order. */
export declare function parse (text: string): Map<string, Family>
