import { Alert, Button, Group, Stack, Text } from '@mantine/core';
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

/**
 * The end of a form that saves the API: the refusal (`SaveError`), "Saved" once it is, and the Save button for
 * those who may edit.
 */
export function SaveFooter({
  editor,
  canEdit,
  saved = editor.save.isSuccess,
  disabled = false,
}: {
  editor: ReturnType<typeof useApiEditor>;
  canEdit: boolean;
  /** Whether to say it was saved (default: the last save succeeded). */
  saved?: boolean;
  disabled?: boolean;
}) {
  return (
    <>
      <SaveError editor={editor} />
      {saved && (
        <Text size="sm" role="status">
          Saved. Deploy a new revision for the gateways to use it.
        </Text>
      )}
      {canEdit && (
        <Group>
          <Button type="submit" loading={editor.save.isPending} disabled={disabled}>
            Save
          </Button>
        </Group>
      )}
    </>
  );
}

/** Said above a form whose input came back from before a sign-in (`useDraft`), with the way to drop it. */
export function KeptInputNotice({ onDiscard }: { onDiscard: () => void }) {
  return (
    <Alert color="blue" title="Unsaved changes kept">
      <Stack gap="xs" align="flex-start">
        <Text size="sm">These are your changes from before you signed in again; they are not saved yet.</Text>
        <Button variant="default" size="xs" onClick={onDiscard}>
          Discard them
        </Button>
      </Stack>
    </Alert>
  );
}
