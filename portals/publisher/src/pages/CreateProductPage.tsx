import { Anchor, Button, Card, Group, Stack, TextInput, Title } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link, useNavigate } from 'react-router';
import { ErrorNotice, unwrap } from '@apim/shared';
import { usePublisher } from '../client';
import { ProductApiPicker, type Picked } from '../components/ProductApiPicker';

interface Part {
  apiId: string | null;
  operations: Picked[];
}

/** `/api-products/create`: a product from operations of one or more APIs. The input stays on a refusal. */
export function CreateProductPage() {
  const api = usePublisher();
  const queries = useQueryClient();
  const navigate = useNavigate();
  const [name, setName] = useState('');
  const [context, setContext] = useState('');
  const [version, setVersion] = useState('1.0.0');
  const [parts, setParts] = useState<Part[]>([{ apiId: null, operations: [] }]);
  const create = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST('/api-products', {
          body: {
            name: name.trim(),
            context: context.trim(),
            version: version.trim(),
            state: 'CREATED',
            visibility: 'PUBLIC',
            accessControl: 'NONE',
            subscriptionAvailability: 'CURRENT_TENANT',
            egress: false,
            policies: ['Unlimited'],
            apis: parts.filter((p) => p.apiId && p.operations.length).map((p) => ({ apiId: p.apiId ?? '', operations: p.operations })),
          },
        }),
      ),
    onSuccess: async (made) => {
      await queries.invalidateQueries({ queryKey: ['api-products'] });
      void navigate(`/api-products/${made.id ?? ''}`);
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  // Functional: choosing an API also clears its operations, two updates in one event.
  const set = (i: number, patch: Partial<Part>) => setParts((all) => all.map((p, j) => (j === i ? { ...p, ...patch } : p)));
  return (
    <Stack>
      <Anchor component={Link} to="/api-products" size="sm">
        ← API products
      </Anchor>
      <Title order={2}>Create API product</Title>
      <form onSubmit={submit} aria-label="Create API product">
        <Stack>
          <TextInput label="Name" required value={name} onChange={(e) => setName(e.currentTarget.value)} />
          <Group grow align="flex-start">
            <TextInput label="Context" required placeholder="/dinner" value={context} onChange={(e) => setContext(e.currentTarget.value)} />
            <TextInput label="Version" required value={version} onChange={(e) => setVersion(e.currentTarget.value)} />
          </Group>
          {parts.map((p, i) => (
            <Card withBorder key={i}>
              <ProductApiPicker
                index={i}
                apiId={p.apiId}
                onApi={(apiId) => set(i, { apiId })}
                picked={p.operations}
                onPicked={(operations) => set(i, { operations })}
              />
            </Card>
          ))}
          <Group>
            <Button variant="default" onClick={() => setParts((all) => [...all, { apiId: null, operations: [] }])}>
              Add another API
            </Button>
          </Group>
          {create.isError && <ErrorNotice error={create.error} title="The API product was not created" />}
          <Group>
            <Button type="submit" loading={create.isPending}>
              Create
            </Button>
          </Group>
        </Stack>
      </form>
    </Stack>
  );
}
