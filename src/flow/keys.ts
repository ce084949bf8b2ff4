/** Every Redis key flow control owns, under the configured prefix. */
export interface FlowKeys {
  inFlight(endpointName: string): string;
  waiting(endpointName: string): string;
  adaptive(endpointName: string): string;
  cursor(endpointName: string): string;
  calls(endpointName: string): string;
  reservations(endpointName: string): string;
  /** Jobs waiting for a reservation beyond the horizon (FIFO). */
  rateQueue(endpointName: string): string;
  accountCursor: string;
  accountCalls: string;
  accountReservations: string;
  /** Set of endpoint names seen, for status and metrics. */
  endpoints: string;
}

export function flowKeys(prefix: string): FlowKeys {
  const base = `${prefix}:flow`;
  return {
    inFlight: (e) => `${base}:inflight:${e}`,
    waiting: (e) => `${base}:waiting:${e}`,
    adaptive: (e) => `${base}:adaptive:${e}`,
    cursor: (e) => `${base}:cursor:${e}`,
    calls: (e) => `${base}:calls:${e}`,
    reservations: (e) => `${base}:resv:${e}`,
    rateQueue: (e) => `${base}:ratequeue:${e}`,
    accountCursor: `${base}:account:cursor`,
    accountCalls: `${base}:account:calls`,
    accountReservations: `${base}:account:resv`,
    endpoints: `${base}:endpoints`,
  };
}
