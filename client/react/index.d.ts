// Types of @portfolio-stream/client/react.
import type { ReactNode, ReactElement, HTMLAttributes } from 'react';
import type {
  PortfolioStore, PortfolioStoreOptions, Position, Order, Trade, Toast, ConnectionView, Notice, PortfolioState,
} from '../store.js';
import type { PortfolioStream, Freshness } from '../portfolio-stream.js';

export { PortfolioStore } from '../store.js';
export {
  freshness, formatAge, formatPnl, formatMoney, formatQuantity, fillToastText, indicatorOf,
} from '../store.js';
export type {
  Position, Order, Trade, Toast, ConnectionView, Notice, PortfolioState, Snapshot, PortfolioStoreOptions,
} from '../store.js';

export interface PortfolioStreamProviderProps extends PortfolioStoreOptions {
  /** a store made by the application (otherwise the provider makes one from the other props, once) */
  store?: PortfolioStore;
  children?: ReactNode;
}
export function PortfolioStreamProvider(props: PortfolioStreamProviderProps): ReactElement;

export interface PortfolioStreamView extends ConnectionView {
  connection: ConnectionView;
  notice: Notice | null;
  snapshot: PortfolioState['snapshot'];
  lastDataAt: number;
  store: PortfolioStore;
  stream: PortfolioStream;
  reconnect(): void;
  refresh(): Promise<boolean>;
  dismissNotice(): void;
}
/** Inside a provider: that provider's store; outside: pass options and it makes (and owns) one. */
export function usePortfolioStream(options?: PortfolioStoreOptions): PortfolioStreamView;
export function useRealtimePositions(store?: PortfolioStore): { positions: Position[]; bySymbol: Record<string, Position> };
export function useRealtimeOrders(store?: PortfolioStore): { orders: Order[]; trades: Trade[] };
export function useRealtimeAccount(store?: PortfolioStore): { account: Record<string, any> | null; updatedAt: number };
export function useNow(store?: PortfolioStore): number;
export function useFreshness(updatedAt: number, thresholds?: { delayedAfterMs?: number; staleAfterMs?: number }, store?: PortfolioStore):
  { level: Freshness; label: 'Live' | 'Delayed' | 'Stale'; ageMs: number };
export function useFillToasts(store?: PortfolioStore): { toasts: Toast[]; dismiss(id: string): void };

type SpanProps = Omit<HTMLAttributes<HTMLSpanElement>, 'children'>;
type DivProps = Omit<HTMLAttributes<HTMLDivElement>, 'children'>;

export interface AnimatedPnLProps extends SpanProps {
  value: number | null | undefined;
  /** default: "+$12.50" / "-$3.00" */
  format?: (value: number | null | undefined) => string;
  currency?: string;
}
export function AnimatedPnL(props: AnimatedPnLProps): ReactElement;

export interface LiveBadgeProps extends SpanProps {
  /** wall-clock ms of the figure's last update (Position.updatedAt) */
  updatedAt: number;
  thresholds?: { delayedAfterMs?: number; staleAfterMs?: number };
}
export function LiveBadge(props: LiveBadgeProps): ReactElement | null;

export interface ConnectionStatusProps extends DivProps {
  showLabel?: boolean;
}
export function ConnectionStatus(props: ConnectionStatusProps): ReactElement;
export function connectionLabel(c: Pick<ConnectionView, 'state' | 'indicator'>): string;

export interface StalenessWarningProps extends DivProps {
  /** default 60000 */
  thresholdMs?: number;
  /** default: reload the snapshot (store.refresh()) */
  onRefresh?: () => void;
  children?: ReactNode;
}
export function StalenessWarning(props: StalenessWarningProps): ReactElement | null;

export function FillToasts(props: DivProps): ReactElement;

export interface StreamNoticesProps extends DivProps {
  /** where "Log in again" goes (default /login) */
  loginUrl?: string;
  loginLabel?: string;
}
export function StreamNotices(props: StreamNoticesProps): ReactElement;
