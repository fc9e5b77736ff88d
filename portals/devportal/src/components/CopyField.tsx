import { Button, CopyButton, Group, Textarea, TextInput } from '@mantine/core';

/** A value the user copies (a consumer key, a secret, a token): read-only, labelled, with a "Copy" button. */
export function CopyField({ label, value, description, multiline }: { label: string; value: string; description?: string; multiline?: boolean }) {
  const field = multiline ? (
    <Textarea label={label} description={description} value={value} readOnly autosize minRows={2} maxRows={6} style={{ flex: 1, minWidth: 0 }} styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)', wordBreak: 'break-all' } }} />
  ) : (
    <TextInput label={label} description={description} value={value} readOnly style={{ flex: 1, minWidth: 0 }} styles={{ input: { fontFamily: 'var(--mantine-font-family-monospace)' } }} />
  );
  return (
    <Group align="flex-end" gap="xs" wrap="nowrap">
      {field}
      <CopyButton value={value}>
        {({ copied, copy }) => (
          <Button variant="default" onClick={copy} aria-label={`Copy ${label.toLowerCase()}`}>
            {copied ? 'Copied' : 'Copy'}
          </Button>
        )}
      </CopyButton>
    </Group>
  );
}
