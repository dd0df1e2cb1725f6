# What the prod overlay needs (deploy/kubernetes/overlays/prod): the image repository, the role for
# the service account's annotation, the bucket and key for molops.toml, the database address.
output "cluster_name" {
  description = "EKS cluster name (aws eks update-kubeconfig --name ...)."
  value       = aws_eks_cluster.this.name
}

output "image_repository" {
  description = "ECR repository URL: kustomize edit set image molops=URL@sha256:DIGEST."
  value       = aws_ecr_repository.molops.repository_url
}

output "workload_role_arn" {
  description = "IAM role of the molops service account (eks.amazonaws.com/role-arn)."
  value       = aws_iam_role.workload.arn
}

output "bucket" {
  description = "Data bucket: [storage] uri = s3://BUCKET/workspace."
  value       = aws_s3_bucket.data.bucket
}

output "kms_key_arn" {
  description = "KMS key: [storage] kms_key_id."
  value       = aws_kms_key.data.arn
}

output "db_address" {
  description = "Postgres host: [tracking] uri = postgresql://molops@ADDRESS:5432/mlflow?sslmode=require."
  value       = aws_db_instance.tracking.address
}

output "db_master_secret_arn" {
  description = "Secrets Manager secret with the database master password (RDS manages it)."
  value       = aws_db_instance.tracking.master_user_secret[0].secret_arn
}
