# Where image.yml pushes the molops image; tags are immutable, so a tag always means one digest.
resource "aws_ecr_repository" "molops" {
  name                 = var.name
  image_tag_mutability = "IMMUTABLE"
  image_scanning_configuration {
    scan_on_push = true
  }
  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.data.arn
  }
  tags = var.tags
}
