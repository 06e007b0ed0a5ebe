-- Optuna and MLflow each get their own database: sharing one breaks their schemas (optuna#2866).
CREATE DATABASE optuna;
CREATE DATABASE mlflow;
