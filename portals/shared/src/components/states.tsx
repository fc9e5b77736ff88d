import { Alert, Center, Loader, Stack, Text } from '@mantine/core';
import type { ReactNode } from 'react';
import { ApiError } from '../api/error';

export function LoadingState({ label = 'Loading' }: { label?: string }) {
  return (
    <Center py="xl" role="status" aria-live="polite">
      <Stack align="center" gap="xs">
        <Loader aria-hidden />
        <Text c="dimmed">{label}…</Text>
      </Stack>
    </Center>
  );
}

/** A failed call: the server's WSO2 message and code, and its description when there is one. */
export function ErrorNotice({ error, title = 'Something went wrong' }: { error: unknown; title?: string }) {
  if (error instanceof ApiError) {
    return (
      <Alert color="red" title={title} role="alert">
        <Text fw={500}>
          {error.message} <Text span c="dimmed">(code {error.code})</Text>
        </Text>
        {error.description && error.description !== error.message && <Text size="sm">{error.description}</Text>}
      </Alert>
    );
  }
  return (
    <Alert color="red" title={title} role="alert">
      {error instanceof Error ? error.message : String(error)}
    </Alert>
  );
}

export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <Center py="xl">
      <Stack align="center" gap="xs">
        <Text fw={600}>{title}</Text>
        {children}
      </Stack>
    </Center>
  );
}
