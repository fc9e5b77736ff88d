import { Anchor, Badge, Button, Card, Group, SimpleGrid, Stack, Text, TextInput, Title } from '@mantine/core';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';
import { EmptyState, ErrorNotice, LoadingState, PageControls, unwrap } from '@apim/shared';
import { useDevportal } from '../client';

const PAGE_SIZE = 12;

/** `/apis`: the published APIs this visitor may see (anonymous visitors: public ones). */
export function CataloguePage() {
  const api = useDevportal();
  const [params, setParams] = useSearchParams();
  const query = params.get('query') ?? '';
  const page = Math.max(1, Number(params.get('page') ?? '1') || 1);
  const [draft, setDraft] = useState(query);
  const apis = useQuery({
    queryKey: ['apis', query, page],
    queryFn: async () =>
      unwrap(await api.GET('/apis', { params: { query: { query: query || undefined, limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE } } })),
    placeholderData: keepPreviousData,
  });
  const search = (e: FormEvent) => {
    e.preventDefault();
    setParams(draft ? { query: draft } : {});
  };
  const total = apis.data?.pagination?.total ?? apis.data?.count ?? 0;
  return (
    <Stack>
      <Title order={2}>APIs</Title>
      <form onSubmit={search} role="search">
        <Group align="flex-end">
          <TextInput label="Search APIs" value={draft} onChange={(e) => setDraft(e.currentTarget.value)} style={{ flex: 1 }} />
          <Button type="submit" variant="default">
            Search
          </Button>
        </Group>
      </form>
      {apis.isPending ? (
        <LoadingState label="Loading APIs" />
      ) : apis.isError ? (
        <ErrorNotice error={apis.error} title="Cannot list APIs" />
      ) : apis.data.list?.length ? (
        <>
          <SimpleGrid cols={{ base: 1, sm: 2, lg: 3 }} role="list" aria-label="APIs">
            {apis.data.list.map((a) => (
              <Card key={a.id} withBorder role="listitem">
                <Stack gap={4}>
                  <Anchor component={Link} to={`/apis/${a.id}`} fw={600}>
                    {a.name}
                  </Anchor>
                  <Group gap="xs">
                    <Badge variant="light">{a.version}</Badge>
                    <Text size="sm" c="dimmed">
                      {a.context}
                    </Text>
                  </Group>
                  {a.description && (
                    <Text size="sm" lineClamp={3}>
                      {a.description}
                    </Text>
                  )}
                </Stack>
              </Card>
            ))}
          </SimpleGrid>
          <PageControls
            label="Pages of APIs"
            total={total}
            pageSize={PAGE_SIZE}
            page={page}
            onChange={(p) => setParams(query ? { query, page: String(p) } : { page: String(p) })}
          />
        </>
      ) : (
        <EmptyState title={query ? `No API matches “${query}”` : 'No APIs are published yet'} />
      )}
    </Stack>
  );
}
