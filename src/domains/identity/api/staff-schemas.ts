import { Type } from '@sinclair/typebox';
import { PASSWORD_LENGTH_MAX } from '../core/staff/passwords.ts';
import { STAFF_ROLES } from '../core/staff/staff-roles.ts';

const Username = Type.String({
  pattern: '^[a-z][a-z0-9._-]{2,63}$',
  description: 'Lowercase, 3 to 64 characters.',
});
const Password = Type.String({
  minLength: 1,
  maxLength: PASSWORD_LENGTH_MAX,
  description: '12 to 256 characters.',
});
const Role = Type.Union(STAFF_ROLES.map((role) => Type.Literal(role)));

export const CreateStaffBody = Type.Object(
  {
    username: Username,
    displayName: Type.String({ minLength: 1, maxLength: 200 }),
    password: Password,
    roles: Type.Optional(
      Type.Array(Role, {
        maxItems: 6,
        description: 'Only `viewer` here; other roles come by an approved role grant.',
      }),
    ),
  },
  { $id: 'CreateStaff', additionalProperties: false },
);

const staffFields = {
  id: Type.String({ pattern: '^stf_[0-9A-HJKMNP-TV-Z]{30}$' }),
  username: Type.String(),
  displayName: Type.String(),
  roles: Type.Array(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
  lockedUntil: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
};

export const StaffSchema = Type.Object(staffFields, { $id: 'Staff', additionalProperties: false });

export const StaffPageSchema = Type.Object(
  {
    data: Type.Array(Type.Ref(StaffSchema)),
    hasMore: Type.Boolean(),
    nextCursor: Type.Union([Type.String(), Type.Null()]),
  },
  { $id: 'StaffPage', additionalProperties: false },
);

export const StaffListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    startingAfter: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);

export const CreatedStaffSchema = Type.Object(
  {
    ...staffFields,
    totpUri: Type.Union([Type.String(), Type.Null()], {
      description:
        'The otpauth:// URI to enrol an authenticator app, in this answer only (`null` in a replay).',
    }),
  },
  { $id: 'CreatedStaff', additionalProperties: false },
);

export const LoginBody = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 64 }),
    password: Password,
    code: Type.String({ minLength: 1, maxLength: 16, description: 'The 6-digit TOTP code.' }),
  },
  { $id: 'StaffLogin', additionalProperties: false },
);

export const SessionSchema = Type.Object(
  {
    token: Type.String({ description: 'Send as Authorization: Bearer <token>. Shown once.' }),
    expiresAt: Type.String({ format: 'date-time' }),
    staff: Type.Ref(StaffSchema),
  },
  { $id: 'StaffSession', additionalProperties: false },
);

export const WhoAmISchema = Type.Object(
  {
    kind: Type.String(),
    subject: Type.String(),
    roles: Type.Array(Type.String()),
    scopes: Type.Array(Type.String()),
  },
  { $id: 'WhoAmI', additionalProperties: false },
);

export const StaffIdParams = Type.Object(
  { staffId: Type.String({ maxLength: 64 }) },
  { additionalProperties: false },
);

export const RoleGrantBody = Type.Object(
  { roles: Type.Array(Role, { minItems: 1, maxItems: 6, uniqueItems: true }) },
  { $id: 'RoleGrant', additionalProperties: false },
);
