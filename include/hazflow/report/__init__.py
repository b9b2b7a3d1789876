"""What people read: plots (`plots`) and the summaries steps return (`summary`)."""
