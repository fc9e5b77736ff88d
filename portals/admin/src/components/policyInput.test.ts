import { describe, expect, it } from 'vitest';
import { NEW_GROUP, toConditionalGroup } from './ConditionGroupFields';
import { DEFAULT_LIMIT, toThrottleLimit } from './LimitFields';

describe('policy form input to WSO2 shapes', () => {
  it('makes a request-count or bandwidth limit with numbers from the fields', () => {
    expect(toThrottleLimit({ ...DEFAULT_LIMIT, amount: '20', unitTime: '2', timeUnit: 'hour' })).toEqual({
      type: 'REQUESTCOUNTLIMIT',
      requestCount: { requestCount: 20, unitTime: 2, timeUnit: 'hour' },
    });
    expect(toThrottleLimit({ ...DEFAULT_LIMIT, kind: 'BANDWIDTHLIMIT', amount: 5, dataUnit: 'GB' })).toEqual({
      type: 'BANDWIDTHLIMIT',
      bandwidth: { dataAmount: 5, dataUnit: 'GB', unitTime: 1, timeUnit: 'min' },
    });
  });

  it('makes one condition of the chosen kind per group, trimmed, inverted when asked', () => {
    const header = toConditionalGroup({ ...NEW_GROUP, name: ' X-Tier ', value: 'gold', invert: true });
    expect(header.conditions).toEqual([{ type: 'HEADERCONDITION', invertCondition: true, headerCondition: { headerName: 'X-Tier', headerValue: 'gold' } }]);
    const ip = toConditionalGroup({ ...NEW_GROUP, kind: 'IPCONDITION', value: ' 10.0.0.1 ' });
    expect(ip.conditions[0]?.ipCondition).toEqual({ ipConditionType: 'IPSPECIFIC', specificIP: '10.0.0.1' });
    const claim = toConditionalGroup({ ...NEW_GROUP, kind: 'JWTCLAIMSCONDITION', name: 'http://wso2.org/claims/role', value: 'gold' });
    expect(claim.conditions[0]?.jwtClaimsCondition).toEqual({ claimUrl: 'http://wso2.org/claims/role', attribute: 'gold' });
  });
});
