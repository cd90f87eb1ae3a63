"""What Airflow needs from Quarry: its environment (environment.py), the failure callback
(callbacks.py), the tasks the DAGs call (tasks.py) and the defaults every DAG shares (defaults.py).
DAG files import this package's light modules only; the jobs load inside the tasks."""
