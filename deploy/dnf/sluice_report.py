# A dnf (4) plugin: after every transaction, report the installed versions to the site's Sluice
# node (compliance for machines that install with stock dnf from /rpm/RING). Install it in dnf's
# plugin directory (/usr/lib/python3.*/site-packages/dnf-plugins/) with sluice_report.conf in
# /etc/dnf/plugins/; it runs /usr/lib/sluice/sluice-dnf-report (SLUICE_DNF_REPORT overrides),
# whose settings are in /etc/sluice-agent/dnf-report.env. It never fails a transaction.
import logging
import os
import subprocess

import dnf

logger = logging.getLogger('dnf')


class SluiceReport(dnf.Plugin):
    name = 'sluice_report'

    def transaction(self):
        script = os.environ.get('SLUICE_DNF_REPORT', '/usr/lib/sluice/sluice-dnf-report')
        env = dict(os.environ)
        # The rpm database dnf just changed, and the repositories it read (an install root's own).
        env.setdefault('SLUICE_RPM_ROOT', self.base.conf.installroot or '/')
        if self.base.conf.reposdir:
            env.setdefault('SLUICE_REPOS_DIR', self.base.conf.reposdir[0])
        try:
            result = subprocess.run(['sh', script], env=env, timeout=120, capture_output=True, text=True)
            if result.returncode != 0:
                logger.warning('sluice_report: %s failed: %s', script, result.stderr.strip()[:300])
        except Exception as err:  # a report never fails the transaction
            logger.warning('sluice_report: %s', err)
