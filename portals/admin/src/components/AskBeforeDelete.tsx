import { Button } from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { useState, type ReactNode } from 'react';
import { ConfirmDialog } from '@apim/shared';

/**
 * Deleting a row after asking: `ask(item)` opens the dialog titled `title` with `question(item)`; "Delete" calls
 * `remove(item)`, then `onDeleted()`. The server's refusal stays in the dialog.
 */
export function useAskBeforeDelete<T>({
  title,
  question,
  remove,
  onDeleted,
}: {
  title: string;
  question: (item: T) => ReactNode;
  remove: (item: T) => Promise<unknown>;
  onDeleted: () => Promise<unknown>;
}): { ask: (item: T) => void; dialog: ReactNode } {
  const [item, setItem] = useState<T>();
  const deletion = useMutation({
    mutationFn: remove,
    onSuccess: async () => {
      setItem(undefined);
      await onDeleted();
    },
  });
  const dialog = (
    <ConfirmDialog
      opened={item !== undefined}
      title={title}
      confirmLabel="Delete"
      onConfirm={() => item !== undefined && deletion.mutate(item)}
      onClose={() => {
        setItem(undefined);
        deletion.reset();
      }}
      pending={deletion.isPending}
      error={deletion.error ?? undefined}
    >
      {item !== undefined && question(item)}
    </ConfirmDialog>
  );
  return { ask: setItem, dialog };
}

/** A row's "Delete" button, labelled with what it deletes. */
export function DeleteButton({ label, onClick }: { label: string; onClick: () => void }) {
  return (
    <Button variant="subtle" color="red" size="xs" aria-label={label} onClick={onClick}>
      Delete
    </Button>
  );
}
