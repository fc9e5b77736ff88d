import { Button, Group, Stack } from '@mantine/core';
import { ErrorNotice } from '@apim/shared';
import type { useApiEditor } from '../queries';

/** A save's refusal in place; for a 412 also the way on: read the API again and save the kept input on top. */
export function SaveError({ editor }: { editor: ReturnType<typeof useApiEditor> }) {
  if (!editor.save.isError) return null;
  return (
    <Stack gap="xs">
      <ErrorNotice error={editor.save.error} title="Not saved" />
      {editor.stale && (
        <Group>
          <Button variant="default" size="xs" onClick={() => editor.reread.mutate()} loading={editor.reread.isPending}>
            Read the API again (your input stays)
          </Button>
        </Group>
      )}
      {editor.reread.isError && <ErrorNotice error={editor.reread.error} title="Cannot read the API" />}
    </Stack>
  );
}
