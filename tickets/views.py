from django.http import HttpResponse


def console(request):  # replaced by the console view
    return HttpResponse("console")


def ticket_detail(request, public_id):
    return HttpResponse("ticket")
