import { MantineProvider } from '@mantine/core';
import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError } from '../api/error';
import { EmptyState, ErrorNotice } from './states';

afterEach(cleanup);

const inTheme = (ui: React.ReactNode) => render(<MantineProvider>{ui}</MantineProvider>);

describe('ErrorNotice', () => {
  it("shows the server's WSO2 message, code and description as an alert", () => {
    const e = ApiError.from(new Response(null, { status: 409 }), {
      code: 409,
      message: 'Conflict',
      description: 'an API with name PizzaShackAPI and version 1.0.0 exists',
    });
    inTheme(<ErrorNotice error={e} title="The API was not created" />);
    const alert = screen.getByRole('alert');
    expect(alert.textContent).toContain('The API was not created');
    expect(alert.textContent).toContain('Conflict');
    expect(alert.textContent).toContain('(code 409)');
    expect(alert.textContent).toContain('an API with name PizzaShackAPI and version 1.0.0 exists');
  });

  it('shows any other failure by its message', () => {
    inTheme(<ErrorNotice error={new TypeError('Failed to fetch')} />);
    expect(screen.getByRole('alert').textContent).toContain('Failed to fetch');
  });
});

describe('EmptyState', () => {
  it('says what is empty', () => {
    inTheme(<EmptyState title="No APIs yet" />);
    expect(screen.getByText('No APIs yet')).toBeTruthy();
  });
});
