// Compiled (never run) by `npm run typecheck` (ctest browser.types): the shipped .d.ts files
// must describe the API as the README uses it.
import { PortfolioStream, compareOffsets, freshnessOf, type ResumeInfo } from '@portfolio-stream/client';
import { PortfolioStore, fillToastText, type Position } from '@portfolio-stream/client/store';
import {
  PortfolioStreamProvider, usePortfolioStream, useRealtimePositions, useRealtimeOrders, useRealtimeAccount,
  ConnectionStatus, AnimatedPnL, LiveBadge, StalenessWarning, FillToasts, StreamNotices,
} from '@portfolio-stream/client/react';

const stream = new PortfolioStream({
  url: 'wss://app.example.com/ws/portfolio',
  channels: ['positions', 'orders'],
  onEvent: (ev, meta) => { if (ev.offset && meta.batch) console.log(ev.type); },
  onResume: (r: ResumeInfo) => { if (!r.recovered) console.log(r.reason); },
  checkSession: async () => (await fetch('/api/me')).ok,
});
const off: () => void = stream.on('state', (state, info) => console.log(state, info.delayMs));
off();
const n: number = compareOffsets(stream.offset, '1-0');
const f: 'live' | 'delayed' | 'stale' = freshnessOf(n);
const store = new PortfolioStore({ stream, loadSnapshot: async () => ({ positions: [{ symbol: 'AAPL', quantity: 1 }] }) });
const text: string | null = fillToastText({ type: 'trade_executed' });
void f; void text; void store;

function Positions() {
  const { positions } = useRealtimePositions();
  const { orders, trades } = useRealtimeOrders();
  const { account } = useRealtimeAccount();
  const { state, indicator, refresh } = usePortfolioStream();
  return (
    <table data-state={state} data-ind={indicator} onClick={() => void refresh()}>
      <tbody>
        {positions.map((p: Position) => (
          <tr key={p.symbol}>
            <td>{p.symbol}</td>
            <td><AnimatedPnL value={p.pnl} /></td>
            <td><LiveBadge updatedAt={p.updatedAt} /></td>
          </tr>
        ))}
        <tr><td>{orders.length + trades.length}{String(account?.cash ?? '')}</td></tr>
      </tbody>
    </table>
  );
}

export function App() {
  return (
    <PortfolioStreamProvider loadSnapshot={() => fetch('/api/portfolio').then((r) => r.json())} channels={['positions']}>
      <ConnectionStatus />
      <StreamNotices loginUrl="/login" />
      <StalenessWarning thresholdMs={60_000} />
      <Positions />
      <FillToasts />
    </PortfolioStreamProvider>
  );
}
