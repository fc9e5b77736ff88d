import { Badge } from '@mantine/core';

/** Beside the name of a row set in deployment.toml, which the Admin portal cannot change or delete. */
export function ReadOnlyBadge({ label }: { label: string }) {
  return (
    <Badge variant="default" title="Set in deployment.toml">
      {label}
    </Badge>
  );
}
