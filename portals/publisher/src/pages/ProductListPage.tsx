import { Anchor, Badge, Button, Group, Stack, Table, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { ListStates, unwrap, useHasScope } from '@apim/shared';
import { usePublisher } from '../client';

/** `/api-products`: the API products, each a bundle of other APIs' operations behind a context of its own. */
export function ProductListPage() {
  const api = usePublisher();
  const canCreate = useHasScope('apim:api_create');
  const products = useQuery({
    queryKey: ['api-products'],
    queryFn: async () => unwrap(await api.GET('/api-products', { params: { query: { limit: 100 } } })).list ?? [],
  });
  return (
    <Stack>
      <Group justify="space-between">
        <Title order={2}>API products</Title>
        {canCreate && (
          <Button component={Link} to="/api-products/create">
            Create API product
          </Button>
        )}
      </Group>
      <ListStates query={products} loading="Loading API products" failed="Cannot list API products" empty="No API products yet">
        {(items) => (
          <Table striped aria-label="API products">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Context</Table.Th>
                <Table.Th>State</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {items.map((p) => (
                <Table.Tr key={p.id}>
                  <Table.Td>
                    <Anchor component={Link} to={`/api-products/${p.id}`}>
                      {p.name}
                    </Anchor>
                  </Table.Td>
                  <Table.Td>{p.context}</Table.Td>
                  <Table.Td>
                    <Badge variant="light">{p.state}</Badge>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
      </ListStates>
    </Stack>
  );
}
