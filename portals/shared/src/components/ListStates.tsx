import type { UseQueryResult } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { EmptyState, ErrorNotice, LoadingState } from './states';

/** A list query's four states in one place: loading, failed (the server's message), empty, or its items. */
export function ListStates<T>({
  query,
  loading,
  failed,
  empty,
  children,
}: {
  query: UseQueryResult<T[]>;
  /** What is loading, as in "Loading API categories". */
  loading: string;
  /** The title over the server's error. */
  failed: string;
  /** Shown when the list has no items. */
  empty: string;
  children: (items: T[]) => ReactNode;
}) {
  if (query.isPending) return <LoadingState label={loading} />;
  if (query.isError) return <ErrorNotice error={query.error} title={failed} />;
  if (query.data.length === 0) return <EmptyState title={empty} />;
  return <>{children(query.data)}</>;
}
