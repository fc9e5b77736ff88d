// The sample API "Deploy sample API" makes: PizzaShack, as WSO2's Publisher offers it, described with examples
// so the gateway can answer it without a backend (`endpointImplementationType: MOCKED_OAS`). Loaded only when
// the button is pressed.

const order = {
  orderId: 'a3c9e5f0-0b1d-4a57-9d1c-6b5f1c0e2a11',
  pizzaType: 'Margherita',
  quantity: 2,
  customerName: 'Jane Doe',
  address: '59 Flower Road, Colombo',
  creditCardNumber: '****-****-****-4242',
  delivered: false,
};

const orderSchema = {
  type: 'object',
  required: ['pizzaType', 'quantity', 'customerName', 'address'],
  properties: {
    orderId: { type: 'string', format: 'uuid' },
    pizzaType: { type: 'string' },
    quantity: { type: 'integer', minimum: 1 },
    customerName: { type: 'string' },
    address: { type: 'string' },
    creditCardNumber: { type: 'string' },
    delivered: { type: 'boolean' },
  },
};

const json = (example: unknown, description: string) => ({ description, content: { 'application/json': { example } } });

export const SAMPLE_API = { name: 'PizzaShackAPI', context: '/pizzashack', version: '1.0.0' };

export const PIZZASHACK_SAMPLE = {
  openapi: '3.0.1',
  info: { title: SAMPLE_API.name, version: SAMPLE_API.version, description: 'Order pizza to be delivered: the sample API, answered by the gateway from these examples.' },
  paths: {
    '/menu': {
      get: {
        summary: 'Return the list of pizzas',
        responses: {
          '200': json(
            [
              { name: 'Margherita', description: 'Tomato, mozzarella and basil', price: '9.50', icon: '/images/margherita.png' },
              { name: 'Pepperoni', description: 'Tomato, mozzarella and pepperoni', price: '11.00', icon: '/images/pepperoni.png' },
              { name: 'Quattro Formaggi', description: 'Four cheeses', price: '12.50', icon: '/images/formaggi.png' },
              { name: 'Vegetariana', description: 'Grilled vegetables', price: '10.50', icon: '/images/vegetariana.png' },
            ],
            'The menu',
          ),
        },
      },
    },
    '/order': {
      post: {
        summary: 'Create a new order',
        requestBody: { content: { 'application/json': { schema: orderSchema } }, required: true },
        responses: { '201': json(order, 'The order, with its id') },
      },
    },
    '/order/{orderId}': {
      parameters: [{ name: 'orderId', in: 'path', required: true, schema: { type: 'string' } }],
      get: { summary: 'Get the details of an order', responses: { '200': json(order, 'The order') } },
      put: {
        summary: 'Update an order',
        requestBody: { content: { 'application/json': { schema: orderSchema } }, required: true },
        responses: { '200': json({ ...order, quantity: 3 }, 'The order as updated') },
      },
      delete: { summary: 'Cancel an order', responses: { '204': { description: 'Cancelled' } } },
    },
  },
};
