/** What coturn's test client `turnutils_uclient` reported at its end. */
export interface UclientTotals {
  /** Messages sent and echoed back; 0 when the run printed no totals. */
  sent: number;
  received: number;
  /** Its own "Total lost packets" percentage, when printed. */
  lostPercent: number | undefined;
  /** Whether the totals line was there at all. */
  reported: boolean;
}

export function parseUclientOutput(out: string): UclientTotals {
  const totals = /tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$/m.exec(out);
  const lost = /Total lost packets \d+ \(([\d.]+)%\)/.exec(out);
  return {
    sent: totals ? Number(totals[1]) : 0,
    received: totals ? Number(totals[2]) : 0,
    lostPercent: lost ? Number(lost[1]) : undefined,
    reported: totals !== null,
  };
}
