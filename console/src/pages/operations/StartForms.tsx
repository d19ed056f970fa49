/**
 * Starting an operation: a planned switchover of a data centre's primary (the `switchover`
 * workflow, checked before and after on one table), a DR drill (the `dr-drill` workflow: every
 * shard homed in one data centre moved to the other and back), or a re-seed of a returning data
 * centre's copies (`POST /v1/operations/reseed`). Each waits for a second person before it acts.
 */
import { type FormEvent, useState } from 'react';
import { useI18n } from '../../app/i18n.tsx';
import { Guard, ProblemBanner } from '../../app/ui.tsx';
import { useAction } from './action.ts';
import type { ApprovalRequest, Run, Topology } from './types.ts';

function DcSelect({
  id,
  label,
  value,
  onChange,
  topology,
}: {
  id: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  topology: Topology | undefined;
}) {
  const dcs = topology?.dataCentres ?? [];
  return (
    <label htmlFor={id}>
      {label}
      <select id={id} value={value} onChange={(event) => onChange(event.target.value)} required>
        {dcs.map((dc) => (
          <option key={dc.id} value={dc.id}>
            {dc.id}
          </option>
        ))}
      </select>
    </label>
  );
}

/** The chosen data centre, or the first one once the topology is known. */
function useDc(topology: Topology | undefined, index = 0): [string, (dc: string) => void] {
  const [chosen, setChosen] = useState('');
  const fallback = topology?.dataCentres[index]?.id ?? topology?.dataCentres[0]?.id ?? '';
  return [chosen || fallback, setChosen];
}

export function SwitchoverForm({
  topology,
  onStarted,
}: {
  topology: Topology | undefined;
  onStarted: (run: Run) => void;
}) {
  const { t } = useI18n();
  const action = useAction();
  const [dc, setDc] = useDc(topology);
  const [shard, setShard] = useState('0');
  const [table, setTable] = useState('demo_customers');
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const input = { dc, check: { shard: Number(shard), table } };
    const run = await action.send<Run>('POST', '/v1/ops/runs', { workflow: 'switchover', input });
    if (run) onStarted(run);
  };
  return (
    <form className="panel" onSubmit={submit} aria-labelledby="switchover-title">
      <h2 id="switchover-title">{t('operations.switchover.title')}</h2>
      <p className="hint">{t('operations.switchover.hint')}</p>
      <div className="form-row">
        <DcSelect
          id="switchover-dc"
          label={t('operations.field.dc')}
          value={dc}
          onChange={setDc}
          topology={topology}
        />
        <label>
          {t('operations.field.shard')}
          <input
            type="number"
            min={0}
            max={4095}
            value={shard}
            onChange={(event) => setShard(event.target.value)}
            required
          />
        </label>
        <label>
          {t('operations.field.table')}
          <input value={table} onChange={(event) => setTable(event.target.value)} required />
        </label>
      </div>
      <Guard needs="ops:manage" note>
        <button type="submit" disabled={action.busy || !dc}>
          {t('operations.switchover.start')}
        </button>
      </Guard>
      <ProblemBanner problem={action.problem} />
    </form>
  );
}

export function DrillForm({
  topology,
  onStarted,
}: {
  topology: Topology | undefined;
  onStarted: (run: Run) => void;
}) {
  const { t } = useI18n();
  const action = useAction();
  const [from, setFrom] = useDc(topology, 0);
  const [to, setTo] = useDc(topology, 1);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const run = await action.send<Run>('POST', '/v1/ops/runs', {
      workflow: 'dr-drill',
      input: { from, to },
    });
    if (run) onStarted(run);
  };
  return (
    <form className="panel" onSubmit={submit} aria-labelledby="drill-title">
      <h2 id="drill-title">{t('operations.drill.title')}</h2>
      <p className="hint">{t('operations.drill.hint')}</p>
      <div className="form-row">
        <DcSelect
          id="drill-from"
          label={t('operations.field.from')}
          value={from}
          onChange={setFrom}
          topology={topology}
        />
        <DcSelect
          id="drill-to"
          label={t('operations.field.to')}
          value={to}
          onChange={setTo}
          topology={topology}
        />
      </div>
      <Guard needs="ops:manage" note>
        <button type="submit" disabled={action.busy || !from || from === to}>
          {t('operations.drill.start')}
        </button>
      </Guard>
      <ProblemBanner problem={action.problem} />
    </form>
  );
}

export function ReseedForm({ topology }: { topology: Topology | undefined }) {
  const { t } = useI18n();
  const action = useAction();
  const [dc, setDc] = useDc(topology);
  const [asked, setAsked] = useState<ApprovalRequest | null>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const request = await action.send<ApprovalRequest>('POST', '/v1/operations/reseed', {
      dataCentre: dc,
    });
    if (request) setAsked(request);
  };
  return (
    <form className="panel" onSubmit={submit} aria-labelledby="reseed-title">
      <h2 id="reseed-title">{t('operations.reseed.title')}</h2>
      <p className="hint">{t('operations.reseed.hint')}</p>
      <div className="form-row">
        <DcSelect
          id="reseed-dc"
          label={t('operations.field.dc')}
          value={dc}
          onChange={setDc}
          topology={topology}
        />
      </div>
      <Guard needs="ops:manage" note>
        <button type="submit" disabled={action.busy || !dc}>
          {t('operations.reseed.start')}
        </button>
      </Guard>
      {asked ? (
        <p role="status" data-testid="reseed-asked">
          {t('operations.reseed.asked', { id: asked.id })}
        </p>
      ) : null}
      <ProblemBanner problem={action.problem} />
    </form>
  );
}
