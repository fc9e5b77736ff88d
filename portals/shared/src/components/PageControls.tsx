import { Pagination } from '@mantine/core';

const CONTROL_LABELS = { first: 'First page', previous: 'Previous page', next: 'Next page', last: 'Last page' } as const;

/** Page buttons for a list of `total` items, `pageSize` a page: a navigation landmark named `label`. */
export function PageControls({
  label,
  total,
  pageSize,
  page,
  onChange,
}: {
  label: string;
  total: number;
  pageSize: number;
  page: number;
  onChange: (page: number) => void;
}) {
  return (
    <nav aria-label={label}>
      <Pagination
        total={Math.max(1, Math.ceil(total / pageSize))}
        value={page}
        onChange={onChange}
        getControlProps={(control) => ({ 'aria-label': CONTROL_LABELS[control] })}
        getItemProps={(p) => ({ 'aria-label': `Page ${p}`, 'aria-current': p === page ? 'page' : undefined })}
      />
    </nav>
  );
}
